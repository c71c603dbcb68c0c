/** Hands text to the browser as a file download. */
export function downloadText(filename: string, text: string, mime: string): void {
  const blob = new Blob([text], { type: mime });
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  link.style.display = 'none';
  document.body.appendChild(link);
  link.click();
  link.remove();
  // Revoking at once can cancel the download in some browsers.
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A file name stem safe on every OS, for suggested download names. */
export function safeStem(name: string, fallback: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9._ -]+/g, '_').trim().replace(/^\.+/, '');
  return cleaned || fallback;
}
