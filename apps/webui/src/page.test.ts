/**
 * The built page as loadWebui hands it to a server: its routes, its headers,
 * nothing inline or from another origin, and its size within budget.
 */
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { describe, it } from "node:test";
import { loadWebui, WEBUI_CSP } from "./index.js";

/** What the page may weigh, gzipped, all files together (marked and DOMPurify are most of it). */
const GZIP_BUDGET = 48 * 1024;

describe("the built page", () => {
  const assets = loadWebui();

  it("has its routes, each with the CSP and a content type", () => {
    assert.deepEqual(assets.map((a) => a.route), ["/", "/app.js", "/app.css", "/favicon.svg"]);
    for (const asset of assets) {
      assert.equal(asset.headers["content-security-policy"], WEBUI_CSP);
      assert.equal(asset.headers["x-content-type-options"], "nosniff");
      assert.ok(asset.headers["content-type"], asset.route);
      assert.ok(asset.body.length > 0, asset.route);
    }
  });

  it("loads nothing inline and nothing from another origin", () => {
    const html = assets.find((a) => a.route === "/")!.body.toString("utf8");
    assert.deepEqual(html.match(/<script[^>]*>/g), ['<script type="module" src="/app.js">']);
    assert.match(html, /<link rel="stylesheet" href="\/app.css">/);
    assert.doesNotMatch(html, /<script>|\sstyle=|\son[a-z]+=|<style|https?:\/\//i);
    const css = assets.find((a) => a.route === "/app.css")!.body.toString("utf8");
    assert.doesNotMatch(css, /@import|url\(|@font-face/i, "the style fetches nothing");
    for (const directive of ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) assert.ok(WEBUI_CSP.includes(directive), directive);
  });

  it(`weighs under ${GZIP_BUDGET / 1024} KiB gzipped`, (t) => {
    let total = 0;
    for (const asset of assets) {
      const gzip = gzipSync(asset.body, { level: 9 }).length;
      total += gzip;
      t.diagnostic(`${asset.route}: ${asset.body.length} bytes, ${gzip} gzipped`);
    }
    t.diagnostic(`total: ${assets.reduce((a, s) => a + s.body.length, 0)} bytes, ${total} gzipped`);
    assert.ok(total < GZIP_BUDGET, `${total} bytes gzipped`);
  });

  it("a page that was not built is a clear error", () => {
    assert.throws(() => loadWebui("/nonexistent"), /the chat page is not built: cannot read \/nonexistent\/index.html \(ENOENT\); run npm run build/);
  });
});
