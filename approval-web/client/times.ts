// Times the server wrote in UTC (<time data-local datetime=...>) read in the reader's own time zone; the UTC time
// stays in the title, shown on hover.

export function localTimes(root: ParentNode = document): void {
  for (const element of root.querySelectorAll<HTMLTimeElement>('time[data-local]')) {
    const at = new Date(element.dateTime);
    if (Number.isNaN(at.getTime())) continue;
    element.textContent = at.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
    if (!element.title) element.title = `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  }
}
