/** Formatters by zone: making one is far slower than using it, and every stored event asks. */
const formatters = new Map<string, Intl.DateTimeFormat>();

/** The calendar day (YYYY-MM-DD) of an instant in a time zone (default the machine's): the figures are counted per day there. */
export function dayOf(epochMs: number, timeZone?: string): string {
  const key = timeZone ?? '';
  let format = formatters.get(key);
  if (!format) {
    // en-CA writes dates as YYYY-MM-DD.
    format = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    formatters.set(key, format);
  }
  return format.format(new Date(epochMs));
}
