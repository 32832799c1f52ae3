/** `/admin/knowledge`: the knowledge base's articles; upload files, import a URL, delete, try a search. */
import { useRef, useState, type FormEvent } from "react";
import { ArticleTable } from "../components/admin/ArticleTable";
import { ImportSummary } from "../components/admin/ImportSummary";
import { useApi } from "../hooks/useApi";
import { ApiError } from "../lib/api";
import { KB_SUFFIXES, mergeSummaries, refused, uploadContentType } from "../lib/knowledge";
import type { KbArticle, KbArticleList, KbImportSummary, KbSearchResponse } from "../lib/protocol";
import { useSocket } from "../providers/SocketProvider";
import type { PageDef } from "./types";

const PAGE_SIZE = 200;

function message(e: unknown): string {
  return e instanceof ApiError ? e.message : String(e);
}

function KnowledgePage() {
  const { api } = useSocket();
  const list = useApi((a) => a.get<KbArticleList>("/api/knowledge/articles", { limit: PAGE_SIZE }), []);
  const articles = list.data?.articles ?? [];
  const [busy, setBusy] = useState<"upload" | "import" | null>(null);
  const [summary, setSummary] = useState<KbImportSummary | null>(null);
  const [status, setStatus] = useState<{ tone: "ok" | "error"; text: string } | null>(null);
  const [deleting, setDeleting] = useState<string | null>(null);
  const [url, setUrl] = useState("");
  const fileRef = useRef<HTMLInputElement>(null);
  const articlesHeading = useRef<HTMLHeadingElement>(null);
  const [query, setQuery] = useState("");
  const [search, setSearch] = useState<{ loading: boolean; result: KbSearchResponse | null; error: string | null }>({
    loading: false,
    result: null,
    error: null,
  });

  async function upload(e: FormEvent) {
    e.preventDefault();
    const files = Array.from(fileRef.current?.files ?? []);
    if (!files.length) {
      setStatus({ tone: "error", text: "Choose one or more files to upload first." });
      return;
    }
    setBusy("upload");
    setStatus(null);
    setSummary(null);
    const parts: KbImportSummary[] = [];
    for (const f of files) {
      try {
        parts.push(await api.upload<KbImportSummary>(`/api/knowledge/articles?filename=${encodeURIComponent(f.name)}`, f, uploadContentType(f.name)));
      } catch (err) {
        parts.push(refused(f.name, message(err)));
      }
    }
    setSummary(mergeSummaries(files.length === 1 ? files[0].name : `${files.length} files`, parts));
    setStatus({ tone: "ok", text: `Uploaded ${files.length === 1 ? files[0].name : `${files.length} files`}.` });
    if (fileRef.current) fileRef.current.value = "";
    setBusy(null);
    list.reload();
  }

  async function importUrl(e: FormEvent) {
    e.preventDefault();
    setBusy("import");
    setStatus(null);
    setSummary(null);
    try {
      setSummary(await api.post<KbImportSummary>("/api/knowledge/import", { url: url.trim() }));
      setStatus({ tone: "ok", text: `Imported ${url.trim()}.` });
      list.reload();
    } catch (err) {
      setStatus({ tone: "error", text: `Could not import ${url.trim() || "the URL"}: ${message(err)}` });
    } finally {
      setBusy(null);
    }
  }

  async function remove(a: KbArticle) {
    setDeleting(a.article_id);
    try {
      await api.del(`/api/knowledge/articles/${encodeURIComponent(a.article_id)}`);
      setStatus({ tone: "ok", text: `Deleted “${a.title}”.` });
      list.reload();
      articlesHeading.current?.focus();
    } catch (err) {
      setStatus({ tone: "error", text: `Could not delete “${a.title}”: ${message(err)}` });
    } finally {
      setDeleting(null);
    }
  }

  async function runSearch(e: FormEvent) {
    e.preventDefault();
    const q = query.trim();
    if (!q) return;
    setSearch({ loading: true, result: null, error: null });
    try {
      setSearch({ loading: false, result: await api.get<KbSearchResponse>("/api/knowledge/search", { q, limit: 10 }), error: null });
    } catch (err) {
      setSearch({ loading: false, result: null, error: message(err) });
    }
  }

  const hits = search.result?.hits ?? [];
  return (
    <div className="page">
      <div className="page__head">
        <h1>Knowledge base</h1>
      </div>
      <p className="muted">
        The help-center articles the FAQ agent answers from. Re-uploading a file replaces its article; an unchanged one is skipped.
      </p>
      <p className={status ? `banner banner--${status.tone}` : "visually-hidden"} role="status" aria-live="polite" data-testid="kb-status">
        {status?.text ?? ""}
      </p>

      <div className="kb-grid">
        <section className="card" aria-labelledby="kb-upload">
          <h2 id="kb-upload">Upload files</h2>
          <form onSubmit={upload}>
            <label className="field-label" htmlFor="kb-files">
              Documents (Markdown, HTML, text or PDF)
            </label>
            <input id="kb-files" ref={fileRef} type="file" multiple accept={KB_SUFFIXES.join(",")} aria-describedby="kb-files-help" />
            <p id="kb-files-help" className="muted small">
              Each file becomes one article; its first heading is the title.
            </p>
            <button type="submit" className="btn btn--primary" disabled={busy !== null}>
              {busy === "upload" ? "Uploading…" : "Upload"}
            </button>
          </form>
        </section>
        <section className="card" aria-labelledby="kb-import">
          <h2 id="kb-import">Import from a URL</h2>
          <form onSubmit={importUrl}>
            <label className="field-label" htmlFor="kb-url">
              Page or sitemap URL
            </label>
            <input id="kb-url" type="url" required placeholder="https://help.example.com/sitemap.xml" value={url} onChange={(e) => setUrl(e.target.value)} />
            <p className="muted small">A sitemap imports every page in it; pages no longer listed are removed.</p>
            <button type="submit" className="btn btn--primary" disabled={busy !== null}>
              {busy === "import" ? "Importing…" : "Import"}
            </button>
          </form>
        </section>
      </div>

      <div aria-live="polite">
        {summary ? (
          <section className="card" aria-labelledby="kb-summary">
            <h2 id="kb-summary">Import summary</h2>
            <ImportSummary summary={summary} />
          </section>
        ) : null}
      </div>

      <section className="card" aria-labelledby="kb-articles">
        <h2 id="kb-articles" ref={articlesHeading} tabIndex={-1}>
          Articles
        </h2>
        {list.error ? (
          <p className="banner banner--error" role="alert">
            {list.error}
          </p>
        ) : null}
        {!list.loading && !list.error && articles.length === 0 ? <p className="empty">No articles yet: upload files or import a URL.</p> : null}
        {articles.length ? (
          <>
            <p className="muted small" data-testid="kb-count">
              {list.data && list.data.total > articles.length ? `The first ${articles.length} of ${list.data.total} articles` : `${articles.length} articles`}
            </p>
            <ArticleTable articles={articles} deleting={deleting} onDelete={remove} />
          </>
        ) : null}
      </section>

      <section className="card" aria-labelledby="kb-search">
        <h2 id="kb-search">Try a search</h2>
        <p className="muted small">What the FAQ agent would retrieve for a question, best first.</p>
        <form onSubmit={runSearch} role="search" aria-label="Knowledge base" className="btn-row kb-search">
          <label className="visually-hidden" htmlFor="kb-q">
            Question
          </label>
          <input id="kb-q" type="search" placeholder="Can I return an opened item?" value={query} onChange={(e) => setQuery(e.target.value)} maxLength={500} />
          <button type="submit" className="btn" disabled={search.loading || !query.trim()}>
            Search
          </button>
        </form>
        <div aria-live="polite" aria-busy={search.loading} data-testid="kb-results">
          {search.error ? <p className="banner banner--error">{search.error}</p> : null}
          {search.result ? (
            <>
              <p className="small">
                {hits.length
                  ? `${hits.length} ${hits.length === 1 ? "hit" : "hits"} for “${search.result.query}”${search.result.found ? "" : " — none close enough to answer (this would be a content gap)"}.`
                  : `No hits for “${search.result.query}”.`}
              </p>
              <ol className="kb-hits">
                {hits.map((h, i) => (
                  <li key={`${h.article_id}-${i}`} data-testid="kb-hit">
                    <p>
                      {h.url ? (
                        <a href={h.url} target="_blank" rel="noopener noreferrer">
                          {h.title}
                        </a>
                      ) : (
                        <strong>{h.title}</strong>
                      )}
                      {h.heading && h.heading !== h.title ? <span> › {h.heading}</span> : null}
                    </p>
                    <p className="muted small">{h.body.length > 240 ? `${h.body.slice(0, 240)}…` : h.body}</p>
                    <p className="muted small">
                      score {h.score.toFixed(4)}
                      {h.coverage != null ? ` · coverage ${Math.round(h.coverage * 100)}%` : ""}
                      {h.similarity != null ? ` · similarity ${h.similarity.toFixed(2)}` : ""}
                    </p>
                  </li>
                ))}
              </ol>
            </>
          ) : null}
        </div>
      </section>
    </div>
  );
}

export const knowledgePage: PageDef = {
  path: "/admin/knowledge",
  title: "Knowledge base",
  component: KnowledgePage,
  nav: "Knowledge",
  staff: true,
  admin: true,
};
