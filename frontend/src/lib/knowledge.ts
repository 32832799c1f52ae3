/** Knowledge-base helpers for the admin page: upload content types and merging import summaries. */
import type { KbImportSummary } from "./protocol";

/** The suffixes the server imports (`app/knowledge/importer.py` SUPPORTED_SUFFIXES). */
export const KB_SUFFIXES = [".md", ".markdown", ".html", ".htm", ".txt", ".pdf"];

/**
 * The Content-Type to upload a file with. The server reads the format from the file name's
 * suffix; it refuses a form's `text/plain`, so anything not Markdown, HTML or PDF goes as
 * `application/octet-stream`.
 */
export function uploadContentType(filename: string): string {
  const suffix = filename.includes(".") ? filename.slice(filename.lastIndexOf(".")).toLowerCase() : "";
  if (suffix === ".md" || suffix === ".markdown") return "text/markdown";
  if (suffix === ".html" || suffix === ".htm") return "text/html";
  if (suffix === ".pdf") return "application/pdf";
  return "application/octet-stream";
}

export type SummaryItem = KbImportSummary["added"][number];

/** Several uploads' summaries as one (each upload is its own import). */
export function mergeSummaries(source: string, parts: KbImportSummary[]): KbImportSummary {
  const out: KbImportSummary = { source, added: [], updated: [], removed: [], skipped: [], chunks: 0, embeddings: 0 };
  for (const p of parts) {
    out.added.push(...p.added);
    out.updated.push(...p.updated);
    out.removed.push(...p.removed);
    out.skipped.push(...p.skipped);
    out.chunks += p.chunks;
    out.embeddings += p.embeddings;
  }
  return out;
}

/** A file the server refused, as a skipped entry with the server's reason. */
export function refused(filename: string, reason: string): KbImportSummary {
  return { source: `upload:${filename}`, added: [], updated: [], removed: [], skipped: [{ source: filename, reason }], chunks: 0, embeddings: 0 };
}
