/**
 * `canary watch <id> [--interval <duration>] [--json]`: follows a rollout live until it ends. Every poll reads the
 * status query; only when something changed does it print — first the new ops-log entries (what was decided and
 * why), then the progress frame (phase, percent, time left in the phase, gates against thresholds, triggers on their
 * way, what it waits for, the command that approves, with `--key` for a role that signs; any hold). Not on a
 * terminal the output is append-only plain text, one frame per change, so it reads the same in a CI log and a README;
 * on a terminal the frame is redrawn in place under the decisions, so it stays steady instead of scrolling away. The
 * last line is the outcome.
 *
 * With --json, one JSON object per line: `{type: "progress", at, …status view, log: [new entries]}` per change and
 * `{type: "outcome", rolloutId, outcome, finalPercent, phase, rollbackVerified, log}` at the end.
 *
 * Exit 0 when the rollout completed; 1 when it rolled back, was aborted or killed, or its workflow ended without a
 * result; 1 also for an unknown rollout id; 2 for a bad --interval.
 */
import type { Command } from 'commander';
import { tryParseDuration } from '../../domain/duration';
import type { OpsLogEntry } from '../../domain/types';
import type { Plan } from '../../plan/schema';
import { renderOpsLogLine } from '../../view/ops-log-line';
import { renderProgress } from '../../view/progress';
import type { RolloutStatusView } from '../../workflows/messages';
import { addConnectionOptions } from '../connection-options';
import { type CliContext, ExitCode } from '../context';
import { exitCodeFor, planForCommands, readRollout, renderEnded, withRollout } from '../rollout-options';

interface WatchOptions {
  interval: string;
  json?: boolean;
}

/** How many earlier ops-log entries the first frame shows. */
const FIRST_FRAME_ENTRIES = 5;

/** Adds `watch` to the program. */
export function registerWatchCommand(program: Command, cli: CliContext): void {
  const command = program
    .command('watch')
    .description('follow a rollout live until it ends: decisions as they happen, phase, gates, what it waits for')
    .argument('<id>', 'rollout id (workflow id)')
    .option('--interval <duration>', 'how often to poll the rollout (at least 100ms)', '1s')
    .option('--json', 'print one JSON object per change, then the outcome');
  addConnectionOptions(command, cli).action(async (rolloutId: string, options: WatchOptions) => {
    const intervalMs = tryParseDuration(options.interval);
    if (intervalMs === undefined || intervalMs < 100) {
      cli.err(`--interval: expected a duration of at least 100ms such as 1s or 500ms, got "${options.interval}"`);
      cli.fail(ExitCode.Usage);
      return;
    }
    await withRollout(cli, rolloutId, async (handle, client) => {
      const log = new LogCursor();
      let lastSignature: string | undefined;
      /** Lines of the frame last drawn on a terminal (with its blank line above), to redraw it in place. */
      let frameLines = 0;
      /** The rollout's plan, read once the first frame has a command to print (it says which roles sign). */
      let plan: Plan | undefined;
      for (;;) {
        const snapshot = await readRollout(cli, client, handle);
        if (!snapshot.running) {
          const entries = log.take(snapshot.result?.opsLog ?? []);
          if (options.json) {
            const r = snapshot.result;
            cli.out(JSON.stringify({ type: 'outcome', rolloutId, executionStatus: snapshot.executionStatus, outcome: r?.outcome, finalPercent: r?.finalPercent, phase: r?.phase, rollbackVerified: r?.rollbackVerified, log: entries }));
          } else {
            if (lastSignature !== undefined) cli.out();
            entries.forEach((entry) => cli.out(renderOpsLogLine(entry)));
            if (entries.length > 0) cli.out();
            renderEnded(rolloutId, snapshot).forEach((line) => cli.out(line));
          }
          cli.fail(exitCodeFor(snapshot));
          return;
        }
        const view = snapshot.view;
        const entries = log.take(view.opsLog);
        const signature = progressSignature(view);
        // On a terminal every poll redraws the frame, so countdowns stay live; elsewhere only a change prints.
        if (entries.length > 0 || signature !== lastSignature || (cli.terminal && !options.json)) {
          if (!options.json) plan ??= await planForCommands(cli, client, handle, view);
          if (options.json) {
            const { opsLog: _all, ...rest } = view;
            cli.out(JSON.stringify({ type: 'progress', at: cli.now(), ...rest, rolloutId, log: entries }));
          } else if (cli.terminal) {
            // On a terminal the frame stays put: it is redrawn in place under the decisions printed so far.
            if (frameLines > 0) cli.raw(`\x1b[${frameLines}F\x1b[J`);
            entries.forEach((entry) => cli.out(renderOpsLogLine(entry)));
            const frame = renderProgress(view, { now: cli.now(), rolloutId, plan });
            cli.out();
            frame.forEach((line) => cli.out(line));
            frameLines = frame.length + 1;
          } else {
            if (lastSignature !== undefined) cli.out();
            entries.forEach((entry) => cli.out(renderOpsLogLine(entry)));
            if (signature !== lastSignature) renderProgress(view, { now: cli.now(), rolloutId, plan }).forEach((line) => cli.out(line));
          }
          lastSignature = signature;
        }
        await cli.sleep(intervalMs);
      }
    });
  });
}

/**
 * What makes a new frame worth printing: status, phase, percent, gates, waits and hold — but not a countdown that
 * only moved (a minimum duration's time left), which would print a frame on every evaluation.
 */
export function progressSignature(view: RolloutStatusView): string {
  const waits = (view.waits ?? []).map((w) => (w.kind === 'minimum' ? { ...w, left: undefined } : w));
  return JSON.stringify([view.status, view.outcome, view.phase, view.percent, view.gates, waits, view.hold]);
}

/**
 * Which ops-log entries have been printed. The status view carries the last 50 entries; the cursor remembers the
 * last one printed and hands out only those after it. The first call hands out the last few, not the whole log.
 */
class LogCursor {
  private last?: string;

  take(entries: readonly OpsLogEntry[]): OpsLogEntry[] {
    const keys = entries.map((e) => JSON.stringify(e));
    if (this.last === undefined) {
      const fresh = entries.slice(-FIRST_FRAME_ENTRIES);
      if (fresh.length > 0) this.last = keys.at(-1);
      return fresh;
    }
    const seen = keys.lastIndexOf(this.last);
    // Not found: more entries came than the view carries; print what it has.
    const fresh = entries.slice(seen + 1);
    if (fresh.length > 0) this.last = keys.at(-1);
    return fresh;
  }
}
