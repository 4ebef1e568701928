// Small pieces of the query language (docs/SEARCH.md) the page writes for the user: quoting a label, adding a term
// to a query, and finding the word being typed.

const WORD = /^[\p{L}\p{N}_'][\p{L}\p{N}_'-]*$/u;
const OPERATORS = new Set(["and", "or", "not"]);

/** A label or value as the language reads it: a word as is, anything else in double quotes. */
export function quote(text) {
  const value = String(text).trim();
  if (WORD.test(value) && !OPERATORS.has(value.toLowerCase())) return value;
  return `"${value.replaceAll('"', "")}"`;
}

export function labelTerm(name) {
  return quote(name);
}

export function fieldTerm(field, value) {
  return `${field}:${quote(value)}`;
}

/** q AND term, with q in parentheses when it holds an OR (AND binds tighter). Adding a term already there is a no-op. */
export function refine(q, term) {
  const current = q.trim();
  if (!current) return term;
  if (current === term || current.endsWith(` AND ${term}`)) return current;
  const hasOr = /(^|[\s()])or($|[\s()])/i.test(current);
  return `${hasOr ? `(${current})` : current} AND ${term}`;
}

/**
 * The token under the caret: {start, end, text, field, value, negated, quoted}. start/end bound what a suggestion
 * replaces (a leading "-" stays).
 */
export function tokenAt(q, caret) {
  let start = caret;
  let inQuote = false;
  // Walk back to the token's start; a double quote opened before the caret and not closed keeps spaces inside.
  const before = q.slice(0, caret);
  const quotes = (before.match(/"/g) || []).length;
  if (quotes % 2 === 1) {
    inQuote = true;
    start = before.lastIndexOf('"');
    // a field before the quote (person:"Al) belongs to the token
    while (start > 0 && !/[\s()]/.test(q[start - 1])) start -= 1;
  } else {
    while (start > 0 && !/[\s()]/.test(q[start - 1])) start -= 1;
  }
  let end = caret;
  if (!inQuote) while (end < q.length && !/[\s()]/.test(q[end])) end += 1;
  let text = q.slice(start, end);
  let negated = false;
  if (text.startsWith("-")) {
    negated = true;
    start += 1;
    text = text.slice(1);
  }
  const colon = text.indexOf(":");
  const field = colon > 0 && !text.slice(0, colon).includes('"') ? text.slice(0, colon).toLowerCase() : "";
  let value = field ? text.slice(colon + 1) : text;
  const quoted = value.startsWith('"');
  value = value.replace(/^"/, "").replace(/"$/, "");
  return { start, end, text, field, value, negated, quoted };
}
