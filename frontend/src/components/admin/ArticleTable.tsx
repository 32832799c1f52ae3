/** The knowledge base's articles, each with a delete button that asks for confirmation in place. */
import { useEffect, useRef, useState } from "react";
import { fmtTime } from "../../lib/format";
import type { KbArticle } from "../../lib/protocol";

/** Where an article came from, for people: the file name of an upload, else the path or URL. */
export function sourceLabel(source: string): string {
  return source.startsWith("upload:") ? `${source.slice("upload:".length)} (uploaded)` : source;
}

export function ArticleTable({
  articles,
  deleting,
  onDelete,
}: {
  articles: KbArticle[];
  deleting: string | null;
  onDelete(article: KbArticle): void;
}) {
  const [confirming, setConfirming] = useState<string | null>(null);
  const confirmRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (confirming) confirmRef.current?.focus();
  }, [confirming]);

  return (
    <div className="table-wrap">
      <table className="table table--articles">
        <caption className="visually-hidden">Articles in the knowledge base</caption>
        <thead>
          <tr>
            <th scope="col">Title</th>
            <th scope="col">Language</th>
            <th scope="col">Source</th>
            <th scope="col">Updated</th>
            <th scope="col">Chunks</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {articles.map((a) => (
            <tr key={a.article_id} data-testid="article-row" data-article-id={a.article_id} aria-busy={deleting === a.article_id}>
              <th scope="row">
                {a.url ? (
                  <a href={a.url} target="_blank" rel="noopener noreferrer">
                    {a.title}
                  </a>
                ) : (
                  a.title
                )}
              </th>
              <td>{a.language}</td>
              <td className="small">
                <code>{sourceLabel(a.source)}</code>
              </td>
              <td>{fmtTime(a.updated_at)}</td>
              <td>{a.chunk_count}</td>
              <td>
                {confirming === a.article_id ? (
                  <span className="btn-row" role="group" aria-label={`Delete “${a.title}”?`}>
                    <button
                      ref={confirmRef}
                      type="button"
                      className="btn btn--danger btn--small"
                      disabled={deleting === a.article_id}
                      onClick={() => {
                        setConfirming(null);
                        onDelete(a);
                      }}
                    >
                      Yes, delete “{a.title}”
                    </button>
                    <button type="button" className="btn btn--ghost btn--small" onClick={() => setConfirming(null)}>
                      Keep
                    </button>
                  </span>
                ) : (
                  <button
                    type="button"
                    className="btn btn--ghost btn--small"
                    aria-label={`Delete “${a.title}”`}
                    disabled={deleting === a.article_id}
                    onClick={() => setConfirming(a.article_id)}
                  >
                    Delete
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
