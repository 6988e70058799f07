// Baseline for `make bench`: one D1 `SELECT 1` per request, then the same JSON as Clientela's
// /healthz. What the runtime plus one local D1 round trip cost, without any Clientela code.
export default {
  async fetch(request, env) {
    const row = await env.DB.prepare("SELECT 1 AS ok").first();
    const ok = row !== null && row.ok === 1;
    return new Response(JSON.stringify({ status: ok ? "ok" : "unavailable" }), {
      status: ok ? 200 : 503,
      headers: { "content-type": "application/json" },
    });
  },
};
