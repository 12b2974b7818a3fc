/**
 * Model text to DOM: markdown through marked, then DOMPurify with an
 * allow-list. Raw HTML in the text is never parsed as markup: marked's HTML
 * tokenizers are switched off, so `<script>` or `<img onerror=...>` from a
 * model arrives as visible text. DOMPurify is the second wall: whatever
 * marked emits passes an allow-list of markdown's own tags, with links kept
 * only for http(s) and mailto, and no element that loads anything (images
 * become links), so the page never requests a URL a model wrote.
 */
import DOMPurify from "dompurify";
import { Marked } from "marked";

/** The tags markdown produces, and nothing else. */
const ALLOWED_TAGS = [
  "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li", "ol", "p", "pre",
  "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
];
const ALLOWED_ATTR = ["href", "title", "start", "align"];
/** Links a model may write: web and mail addresses only (no javascript:, data:, or relative URLs into this server). */
const ALLOWED_URI = /^(?:https?:|mailto:)/i;

const marked = new Marked({
  gfm: true,
  async: false,
  tokenizer: {
    // No HTML blocks or inline tags: such text stays text.
    html: () => undefined,
    tag: () => undefined,
  },
  renderer: {
    // An image would be fetched; show it as a link the reader may follow.
    image: ({ href, text }) => `<a href="${escapeHtml(href)}">${escapeHtml(text === "" ? href : text)}</a>`,
  },
});

// The module's own instance: it is the one Trusted Types policy ("dompurify") the page's CSP allows.
DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A" && node.hasAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

/** Markdown text (a model's reply, complete or streaming) as a sanitised fragment of this document. */
export function renderMarkdown(text: string): DocumentFragment {
  const html = marked.parse(text) as string;
  return DOMPurify.sanitize(html, {
    ALLOWED_TAGS,
    ALLOWED_ATTR,
    ALLOWED_URI_REGEXP: ALLOWED_URI,
    ALLOW_DATA_ATTR: false,
    RETURN_DOM_FRAGMENT: true,
  });
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
