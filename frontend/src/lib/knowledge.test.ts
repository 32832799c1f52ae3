import { describe, expect, it } from "vitest";
import { mergeSummaries, refused, uploadContentType } from "./knowledge";

describe("uploadContentType", () => {
  it("names Markdown, HTML and PDF, and never a form's text/plain", () => {
    expect(uploadContentType("Returns.MD")).toBe("text/markdown");
    expect(uploadContentType("a.markdown")).toBe("text/markdown");
    expect(uploadContentType("page.htm")).toBe("text/html");
    expect(uploadContentType("policy.pdf")).toBe("application/pdf");
    expect(uploadContentType("notes.txt")).toBe("application/octet-stream");
    expect(uploadContentType("README")).toBe("application/octet-stream");
  });
});

describe("mergeSummaries", () => {
  it("adds up every upload, a refused file as skipped with its reason", () => {
    const ok = { source: "upload:a.md", added: [{ source: "upload:a.md", title: "A" }], updated: [], removed: [], skipped: [], chunks: 3, embeddings: 0 };
    const merged = mergeSummaries("2 files", [ok, refused("b.doc", "cannot import 'b.doc'")]);
    expect(merged.added).toHaveLength(1);
    expect(merged.skipped).toEqual([{ source: "b.doc", reason: "cannot import 'b.doc'" }]);
    expect(merged.chunks).toBe(3);
    expect(merged.source).toBe("2 files");
  });
});
