// Baseline for `make bench`: answers every request with the same JSON as Clientela's /healthz,
// without touching any binding. What the runtime costs by itself.
const BODY = JSON.stringify({ status: "ok" });

export default {
  async fetch() {
    return new Response(BODY, {
      status: 200,
      headers: { "content-type": "application/json" },
    });
  },
};
