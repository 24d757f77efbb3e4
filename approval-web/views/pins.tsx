import type { Intent, IntentField, Json } from '../../kernel/index.ts';
import { formatMoney } from '../hygiene.ts';
import { Commit, FieldValue, Host, JsonValue, Value } from './value.tsx';

/**
 * Pins (the upstream state execution must still match) rendered with the same field kinds as the intent: a pin whose
 * value is one of the intent's fields takes that field's label and kind ("Charge amount 120.00 USD", "Head commit
 * 1a2b3c4"); otherwise its kind is read from its key and value (amounts in minor units with the intent's currency,
 * commit SHAs, hosts, URLs). The exact pins as signed stay in the "Exact request" section.
 */

const MONEY_KEY = /(^|_)(amount|total|balance|price|refunded|available)(_|$)/i;
const HOST_KEY = /(^|_)host(name)?$/i;
const SHA = /^[0-9a-f]{40}$/i;

/** "amount_refunded" reads "Amount refunded". */
export function pinLabel(key: string): string {
  const words = key.replace(/[_-]+/g, ' ').trim();
  return words ? words[0]!.toUpperCase() + words.slice(1) : key;
}

function currencyOf(intent: Intent): string | undefined {
  const pinned = intent.pins?.currency;
  if (typeof pinned === 'string' && /^[A-Za-z]{3}$/.test(pinned)) return pinned;
  return intent.fields.find((f) => f.kind === 'money' && f.currency)?.currency;
}

/** The one intent field this pin's value names, if exactly one does (two "main"s say nothing). */
function matchingField(intent: Intent, key: string, value: Json): IntentField | null {
  // A number names a field only as an amount under an amount's key: "approving_reviews: 1" is not PR #1.
  const fits = (f: IntentField) =>
    typeof value === 'number' ? f.kind === 'money' && MONEY_KEY.test(key) : typeof value === 'string' && value.length >= 4;
  const matches = intent.fields.filter((f) => !f.writtenBy && f.value === value && fits(f));
  return matches.length === 1 ? matches[0]! : null;
}

function PinValue(props: { name: string; value: Json; currency: string | undefined }) {
  const { name, value, currency } = props;
  if (typeof value === 'number' && Number.isSafeInteger(value) && MONEY_KEY.test(name) && currency) {
    const money = formatMoney(value, currency);
    return <Value text={money.text} extraFlags={money.flags} />;
  }
  if (typeof value === 'string' && SHA.test(value)) return <Commit sha={value} />;
  if (typeof value === 'string' && HOST_KEY.test(name)) return <Host host={value} />;
  if (typeof value === 'string' && /^https?:\/\//i.test(value)) return <FieldValue field={{ label: name, kind: 'url', value }} />;
  if (typeof value === 'number') return <Value text={value.toLocaleString('en-US')} />;
  return <JsonValue value={value} />;
}

export function PinFields(props: { id: string; intent: Intent }) {
  const { intent } = props;
  const currency = currencyOf(intent);
  return (
    <dl class="fields" id={props.id}>
      {Object.entries(intent.pins ?? {}).map(([key, value]) => {
        const field = matchingField(intent, key, value);
        return (
          <div class="field" data-pin={key} data-kind={field?.kind}>
            <dt>
              <Value text={field ? field.label : pinLabel(key)} />
            </dt>
            <dd>{field ? <FieldValue field={field} /> : <PinValue name={key} value={value} currency={currency} />}</dd>
          </div>
        );
      })}
    </dl>
  );
}
