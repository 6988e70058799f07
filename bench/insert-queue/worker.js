// Baseline for the signup scenario of `make bench`: what the runtime costs for one D1 insert and
// one queue send per request (the least a stored signup with a follow-up job can do), with a
// consumer that acks. Answers 202 like Clientela and reports D1 rows as Clientela's meter does.
export default {
  async fetch(request, env) {
    const body = await request.text();
    const id = crypto.randomUUID();
    const result = await env.DB.prepare(
      "INSERT INTO signups (id, body, created_at) VALUES (?1, ?2, ?3)",
    )
      .bind(id, body, new Date().toISOString())
      .run();
    await env.JOBS.send(JSON.stringify({ v: 1, job: "contact_changed", id }));
    return new Response(JSON.stringify({ status: "accepted" }), {
      status: 202,
      headers: {
        "content-type": "application/json",
        "x-d1-rows-read": String(result.meta.rows_read ?? 0),
        "x-d1-rows-written": String(result.meta.rows_written ?? 0),
        // One D1 round trip (the insert); the queue send is not D1.
        "x-d1-calls": "1",
      },
    });
  },
  async queue(batch) {
    batch.ackAll();
  },
};
