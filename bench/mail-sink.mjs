// Email webhook for `make bench` (scripts/bench.sh): Clientela's EMAIL_WEBHOOK_URL points here,
// so its deliver_email jobs claim, post and mark each outbox message as in production, and their
// D1 rows count. Answers every POST 204 and appends its JSON body, one line each, to the file
// named by the second argument: the bench reads confirmation links from it, because a delivered
// message keeps no link in the outbox. Listens on 127.0.0.1 at the port given first.
//   node bench/mail-sink.mjs PORT FILE
import http from "node:http";
import { appendFileSync, writeFileSync } from "node:fs";

const [port, file] = process.argv.slice(2);
if (!/^[0-9]+$/.test(port ?? "") || !file) {
  console.error("usage: node bench/mail-sink.mjs PORT FILE");
  process.exit(2);
}
writeFileSync(file, "");

http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      if (req.method === "POST") {
        // One line per message; a body that is not one line of JSON is kept as a JSON string.
        const body = Buffer.concat(chunks).toString("utf8");
        let line;
        try {
          line = JSON.stringify(JSON.parse(body));
        } catch {
          line = JSON.stringify(body);
        }
        appendFileSync(file, line + "\n");
      }
      res.writeHead(req.method === "POST" ? 204 : 200).end();
    });
  })
  .listen(Number(port), "127.0.0.1", () => console.log(`mail sink on 127.0.0.1:${port}`));
