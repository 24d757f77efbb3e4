import type { Stats } from './reader.ts';

/**
 * Server-rendered SVG charts: no client script, each an `img` with a text label that says what it shows, plus a
 * <title> per bar so hovering or a screen reader gets the exact number.
 */

const W = 360;
const H = 140;
const PAD = { left: 28, bottom: 18, top: 6 };
const DECISIONS = ['allow', 'approve', 'deny'] as const;

function niceMax(value: number): number {
  if (value <= 5) return 5;
  const step = 10 ** Math.floor(Math.log10(value));
  return Math.ceil(value / step) * step;
}

/** Requests per hour, stacked by policy decision. */
export function PerHourChart(props: { stats: Stats }) {
  const bars = props.stats.perHour;
  const total = bars.reduce((n, b) => n + b.allow + b.deny + b.approve, 0);
  const max = niceMax(Math.max(0, ...bars.map((b) => b.allow + b.deny + b.approve)));
  const hours = Math.max(1, Math.ceil((Date.parse(props.stats.to) - Date.parse(props.stats.from)) / 3_600_000));
  const width = (W - PAD.left) / hours;
  const plotH = H - PAD.bottom - PAD.top;
  const label = `Requests per hour by decision, ${props.stats.from} to ${props.stats.to}: ${total} requests in ${bars.length} active hours`;
  return (
    <figure>
      <figcaption id="chart-hourly">Requests per hour by decision</figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby="chart-hourly" aria-describedby="chart-hourly-desc">
        <desc id="chart-hourly-desc">{label}</desc>
        <text class="axis" x="0" y={PAD.top + 8}>{max}</text>
        <text class="axis" x="0" y={H - PAD.bottom}>0</text>
        {bars.map((bar) => {
          const index = Math.floor((Date.parse(bar.hour) - Date.parse(props.stats.from)) / 3_600_000);
          let y = H - PAD.bottom;
          return DECISIONS.map((decision) => {
            const h = (bar[decision] / max) * plotH;
            y -= h;
            return h > 0 ? (
              <rect class={`bar-${decision}`} x={PAD.left + Math.max(0, index) * width} y={y} width={Math.max(1, width - 1)} height={h}>
                <title>{`${bar.hour}: ${bar[decision]} ${decision}`}</title>
              </rect>
            ) : null;
          });
        })}
        <line x1={PAD.left} y1={H - PAD.bottom} x2={W} y2={H - PAD.bottom} stroke="currentColor" />
        <text class="axis" x={PAD.left} y={H - 4}>{props.stats.from.slice(5, 16).replace('T', ' ')}</text>
        <text class="axis" x={W} y={H - 4} text-anchor="end">{props.stats.to.slice(5, 16).replace('T', ' ')} UTC</text>
      </svg>
      <div class="legend">
        <span class="allow">allow</span>
        <span class="approve">approve (asked a human)</span>
        <span class="deny">deny</span>
      </div>
    </figure>
  );
}

/** Horizontal bars with a label and a count each: the time-to-approval histogram and the top-N lists. */
export function BarList(props: { id: string; title: string; items: { label: string; count: number }[]; empty: string }) {
  const max = Math.max(1, ...props.items.map((i) => i.count));
  const row = 22;
  const height = Math.max(row, props.items.length * row);
  const labelW = 130;
  const description = props.items.map((i) => `${i.label}: ${i.count}`).join('; ');
  return (
    <figure>
      <figcaption id={props.id}>{props.title}</figcaption>
      {props.items.length === 0 ? (
        <p class="empty">{props.empty}</p>
      ) : (
        <svg viewBox={`0 0 ${W} ${height}`} role="img" aria-labelledby={props.id} aria-describedby={`${props.id}-desc`}>
          <desc id={`${props.id}-desc`}>{description}</desc>
          {props.items.map((item, i) => {
            const w = ((W - labelW - 40) * item.count) / max;
            const name = item.label.length > 22 ? `${item.label.slice(0, 21)}…` : item.label;
            return (
              <g>
                <title>{`${item.label}: ${item.count}`}</title>
                <text class="axis" x="0" y={i * row + 15}>{name}</text>
                <rect class="bar-plain" x={labelW} y={i * row + 4} width={Math.max(1, w)} height={row - 8} />
                <text class="axis" x={labelW + w + 4} y={i * row + 15}>{item.count}</text>
              </g>
            );
          })}
        </svg>
      )}
    </figure>
  );
}

/** All four charts for a window. */
export function Charts(props: { stats: Stats }) {
  const { stats } = props;
  return (
    <section class="charts" aria-label="Charts">
      <PerHourChart stats={stats} />
      <BarList
        id="chart-wait"
        title="Time to a human decision"
        items={stats.timeToApproval.map((b) => ({ label: b.label, count: b.count }))}
        empty="No decisions in this window."
      />
      <BarList id="chart-tools" title="Top tools" items={stats.topTools.map((t) => ({ label: t.name, count: t.count }))} empty="No requests in this window." />
      <BarList id="chart-agents" title="Top agents" items={stats.topAgents.map((a) => ({ label: a.name, count: a.count }))} empty="No requests in this window." />
    </section>
  );
}
