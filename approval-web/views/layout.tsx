import type { Context } from 'hono';
import type { Child } from 'hono/jsx';
import type { ScriptName } from '../assets.ts';
import type { WebEnv } from '../context.ts';
import { Inline } from './value.tsx';

/**
 * The page shell every screen shares: SANDBOX banner, header with the signed-in approver and "Sign out", one
 * stylesheet and at most one page script, both loaded by nonce. All text goes through JSX, which escapes it.
 */
export function render(
  c: Context<WebEnv>,
  options: { title: string; script?: ScriptName; status?: 200 | 400 | 403 | 404 | 409 | 410 | 413 | 429 | 500 | 502 },
  body: Child,
): Response | Promise<Response> {
  const nonce = c.var.secureHeadersNonce;
  const { assets, approver, csrfToken, sandbox } = c.var;
  return c.html(
    '<!doctype html>' +
      (
        <html lang="en">
          <head>
            <meta charset="utf-8" />
            <meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover" />
            <meta name="color-scheme" content="light dark" />
            <meta name="csrf-token" content={csrfToken} />
            <link rel="icon" href="data:," />
            <title>{`${options.title} · Countersign`}</title>
            <link rel="stylesheet" href={assets.stylesheet} nonce={nonce} />
            {options.script ? <script type="module" src={assets.scripts[options.script]} nonce={nonce}></script> : null}
          </head>
          <body>
            {sandbox ? (
              <div class="sandbox-banner" role="note">
                SANDBOX · no real accounts are touched
              </div>
            ) : null}
            <header class="bar">
              <a class="brand" href="/">
                Countersign
              </a>
              {approver ? (
                approver.effectiveRoles.includes('auditor') ? <a href="/audit">Audit</a> : <a href="/audit/people">Agents and passkeys</a>
              ) : null}
              {approver ? <a href="/devices">Passports</a> : null}
              {approver ? (
                <form method="post" action="/signout">
                  <span class="who">
                    <Inline text={approver.email} />{' '}
                  </span>
                  <input type="hidden" name="_csrf" value={csrfToken} />
                  <button type="submit" class="secondary">
                    Sign out
                  </button>
                </form>
              ) : null}
            </header>
            <main>{body}</main>
          </body>
        </html>
      ).toString(),
    options.status ?? 200,
  );
}
