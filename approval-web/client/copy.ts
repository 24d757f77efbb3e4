// "Copy" buttons (a commit's full SHA): the exact value from data-copy goes to the clipboard.

export function copyButtons(root: ParentNode = document): void {
  for (const button of root.querySelectorAll<HTMLButtonElement>('button[data-copy]')) {
    if (button.dataset.bound) continue;
    button.dataset.bound = 'true';
    button.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(button.dataset.copy ?? '');
        button.textContent = 'Copied';
        button.dataset.copied = 'true';
      } catch {
        button.textContent = 'Select it below';
        button.closest('.commit')?.querySelector('details')?.setAttribute('open', '');
      }
    });
  }
}
