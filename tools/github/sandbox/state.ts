import { createHash } from 'node:crypto';
import { seedRepository } from './seed.ts';

/**
 * The sandbox upstream's world: plain records the routes read and change, plus helpers tests use to make upstream
 * drift (`movePrHead`) between a describe and an execute. Shapes follow GitHub's own fields, trimmed.
 */

export type Permission = 'pull' | 'triage' | 'push' | 'maintain' | 'admin';

export interface SbUser { login: string; id: number; name: string }
export interface SbCommit { sha: string; message: string; author: string; date: string }
export interface SbPull {
  number: number; title: string; body: string | null; user: string; state: 'open' | 'closed';
  head: string; headSha: string; base: string; draft: boolean; merged: boolean; mergedAt: string | null;
  mergeCommitSha: string | null; mergedBy: string | null; createdAt: string; updatedAt: string;
}
export interface SbIssue {
  number: number; title: string; body: string | null; user: string; state: 'open' | 'closed';
  labels: string[]; createdAt: string; updatedAt: string; closedAt: string | null;
}
export interface SbComment { id: number; issue: number; body: string; user: string; createdAt: string }
export interface SbCheckRun { id: number; name: string; headSha: string; status: 'queued' | 'in_progress' | 'completed'; conclusion: string | null }
export interface SbReview { id: number; pull: number; user: string; state: 'APPROVED' | 'CHANGES_REQUESTED' | 'COMMENTED'; commitId: string; submittedAt: string }
export interface SbWorkflow { id: number; name: string; path: string; inputs: string[]; runName?: string }
export interface SbRun {
  id: number; workflowId: number; name: string; displayTitle: string; event: string; branch: string; headSha: string;
  status: 'queued' | 'in_progress' | 'completed'; conclusion: string | null; createdAt: string;
}
export interface SbRelease {
  id: number; tag: string; name: string | null; body: string | null; target: string; author: string; createdAt: string;
}
export interface SbInvitation { id: number; invitee: string; permission: Permission; createdAt: string }

export interface SbRepository {
  id: number; owner: string; name: string; description: string; private: boolean; defaultBranch: string;
  branches: Map<string, string>; tags: Map<string, string>; commits: Map<string, SbCommit>; files: Map<string, string>;
  pulls: SbPull[]; issues: SbIssue[]; comments: SbComment[]; checkRuns: SbCheckRun[]; reviews: SbReview[];
  workflows: SbWorkflow[]; runs: SbRun[]; releases: SbRelease[]; collaborators: Map<string, Permission>;
  invitations: SbInvitation[];
}

/** A deterministic 40-hex commit SHA for a seed string, so tests can name commits without hard-coding hashes. */
export function fakeSha(seed: string): string {
  return createHash('sha1').update(seed).digest('hex');
}

export class SandboxState {
  readonly users = new Map<string, SbUser>();
  readonly repos = new Map<string, SbRepository>();
  /** Issues and pull requests share one number sequence per repository, as on GitHub. */
  private readonly nextNumbers = new Map<string, number>();
  private nextId = 5_000_000;

  constructor() {
    for (const [i, login] of ['acme-bot', 'alice', 'bob', 'mallory'].entries()) {
      this.users.set(login, { login, id: 1000 + i, name: login === 'acme-bot' ? 'Acme Bot' : login[0].toUpperCase() + login.slice(1) });
    }
    const web = seedRepository();
    this.repos.set('acme/web', web);
    this.nextNumbers.set('acme/web', 43);
  }

  /** The repository `owner/name`, or undefined (the routes answer 404). */
  repo(owner: string, name: string): SbRepository | undefined {
    return this.repos.get(`${owner}/${name}`.toLowerCase());
  }

  id(): number {
    return this.nextId++;
  }

  nextNumber(repo: SbRepository): number {
    const key = `${repo.owner}/${repo.name}`;
    const n = this.nextNumbers.get(key) ?? 1;
    this.nextNumbers.set(key, n + 1);
    return n;
  }

  /** Adds a commit on top of `branch` and returns its SHA. */
  commit(repo: SbRepository, branch: string, message: string, author = 'acme-bot'): string {
    const parent = repo.branches.get(branch) ?? '';
    const sha = fakeSha(`${parent}:${message}:${repo.commits.size}`);
    repo.commits.set(sha, { sha, message, author, date: new Date().toISOString() });
    repo.branches.set(branch, sha);
    return sha;
  }

  /** Simulates a push to a pull request's head branch: the head moves to `sha` (a new commit is recorded). */
  movePrHead(number: number, sha: string, repoName = 'acme/web'): void {
    const repo = this.repos.get(repoName);
    const pull = repo?.pulls.find((p) => p.number === number);
    if (!repo || !pull) throw new Error(`sandbox: no pull request #${number} in ${repoName}`);
    repo.commits.set(sha, { sha, message: 'Push to head', author: pull.user, date: new Date().toISOString() });
    repo.branches.set(pull.head, sha);
    pull.headSha = sha;
    pull.updatedAt = new Date().toISOString();
  }

  /** Sets the conclusion of every check run on a commit (e.g. 'failure'), or marks them in progress with null. */
  setChecks(sha: string, conclusion: string | null, repoName = 'acme/web'): void {
    for (const run of this.repos.get(repoName)?.checkRuns ?? []) {
      if (run.headSha !== sha) continue;
      run.status = conclusion === null ? 'in_progress' : 'completed';
      run.conclusion = conclusion;
    }
  }
}
