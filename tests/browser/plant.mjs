// Planting a bug (TESTING.md): ADMIN_PAGE_PATCH='[["from","to"],…]' rewrites the page the Worker
// serves for GET /admin before the browser runs it, each `from` required to be there, so a bug in
// a view's script is tried without rebuilding the Worker.
// `also` is a test's own rewrite, applied after the planted ones.
export async function patchAdminPage(context, base, also = []) {
  const raw = process.env.ADMIN_PAGE_PATCH;
  const pairs = [...(raw ? JSON.parse(raw) : []), ...also];
  if (!pairs.length) return;
  await context.route((u) => u.origin === base && u.pathname === '/admin', async (route) => {
    const response = await route.fetch();
    let body = await response.text();
    for (const [from, to] of pairs) {
      if (!body.includes(from)) throw new Error(`ADMIN_PAGE_PATCH: ${JSON.stringify(from)} is not in the page`);
      body = body.split(from).join(to);
    }
    await route.fulfill({ response, body });
  });
}
