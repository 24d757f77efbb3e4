/**
 * Money as Stripe counts it: integer minor units plus a currency. Formatting follows Stripe's own table of
 * decimal places (JPY and friends have none, a few Gulf currencies three), not the locale's.
 */
import type { IntentField } from '../../kernel/index.ts';

/** Stripe's zero-decimal currencies: an `amount` of 500 JPY is ¥500. */
const ZERO_DECIMAL = new Set([
  'BIF', 'CLP', 'DJF', 'GNF', 'JPY', 'KMF', 'KRW', 'MGA', 'PYG', 'RWF', 'UGX', 'VND', 'VUV', 'XAF', 'XOF', 'XPF',
]);
/** Stripe's three-decimal currencies. */
const THREE_DECIMAL = new Set(['BHD', 'JOD', 'KWD', 'OMR', 'TND']);

/** How many minor-unit digits a currency has in Stripe amounts. */
export function minorDigits(currency: string): number {
  const code = currency.toUpperCase();
  if (ZERO_DECIMAL.has(code)) return 0;
  if (THREE_DECIMAL.has(code)) return 3;
  return 2;
}

/** The amount with its symbol only: `$120.00`, `¥12,000`, `€5.00`. Use where the currency code was just said. */
export function formatAmount(amount: number, currency: string): string {
  const code = currency.toUpperCase();
  const digits = minorDigits(code);
  const negative = amount < 0;
  // Build the decimal from the integer so no float rounding can change a cent.
  const units = String(Math.abs(Math.trunc(amount))).padStart(digits + 1, '0');
  const whole = units.slice(0, units.length - digits);
  const fraction = digits === 0 ? '' : units.slice(units.length - digits);
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const number = fraction === '' ? grouped : `${grouped}.${fraction}`;
  const symbol = currencySymbol(code);
  const body = symbol === null ? `${number} ${code}` : `${symbol}${number}`;
  return negative ? `-${body}` : body;
}

/** The amount with its symbol and ISO code: `$120.00 USD`, `¥12,000 JPY`. */
export function formatMoney(amount: number, currency: string): string {
  const code = currency.toUpperCase();
  const text = formatAmount(amount, code);
  return text.endsWith(` ${code}`) ? text : `${text} ${code}`;
}

/** An intent field of kind money: integer minor units and the uppercase ISO code. */
export function moneyField(label: string, amount: number, currency: string): IntentField {
  return { label, kind: 'money', value: amount, currency: currency.toUpperCase() };
}

const symbols = new Map<string, string | null>();

/** The narrow symbol from Intl (`$`, `€`, `¥`), or null when Intl only knows the code. */
function currencySymbol(code: string): string | null {
  const cached = symbols.get(code);
  if (cached !== undefined) return cached;
  let symbol: string | null = null;
  try {
    const parts = new Intl.NumberFormat('en-US', { style: 'currency', currency: code, currencyDisplay: 'narrowSymbol' })
      .formatToParts(1);
    const found = parts.find((part) => part.type === 'currency')?.value ?? null;
    symbol = found === null || found === code ? null : found;
  } catch {
    symbol = null;
  }
  symbols.set(code, symbol);
  return symbol;
}
