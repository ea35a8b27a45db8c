/** scripts/preview.ts: which browser the end-to-end tests and browser benchmarks drive, on each platform. */
import { describe, expect, it } from 'vitest';
import { BROWSER_ENV, findBrowser } from '../scripts/preview';

const only = (...paths: string[]) => (p: string) => paths.includes(p);

describe('findBrowser', () => {
  it('takes $CHROMIUM_PATH first, and says so when it names no file', () => {
    expect(findBrowser('linux', { [BROWSER_ENV]: '/opt/chrome/chrome' }, only('/opt/chrome/chrome', '/usr/bin/chromium'))).toBe('/opt/chrome/chrome');
    expect(() => findBrowser('linux', { [BROWSER_ENV]: '/nope' }, only('/usr/bin/chromium'))).toThrow(/CHROMIUM_PATH=\/nope: no such file/);
  });

  it("finds Debian's Chromium, an installed Chrome on Linux, macOS and Windows", () => {
    expect(findBrowser('linux', {}, only('/usr/bin/chromium', '/usr/bin/google-chrome'))).toBe('/usr/bin/chromium');
    expect(findBrowser('linux', {}, only('/usr/bin/google-chrome-stable'))).toBe('/usr/bin/google-chrome-stable');
    expect(findBrowser('darwin', { HOME: '/Users/a' }, only('/Applications/Chromium.app/Contents/MacOS/Chromium'))).toBe('/Applications/Chromium.app/Contents/MacOS/Chromium');
    const win = 'C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe';
    expect(findBrowser('win32', { PROGRAMFILES: 'C:\\Program Files' }, only(win))).toBe(win);
  });

  it('with none, the message says how to get one on that platform and names the variable', () => {
    expect(() => findBrowser('linux', {}, only())).toThrow(/apt-get install -y chromium.*or set CHROMIUM_PATH/);
    expect(() => findBrowser('darwin', {}, only())).toThrow(/brew install --cask chromium.*CHROMIUM_PATH/);
    expect(() => findBrowser('win32', { PROGRAMFILES: 'C:\\Program Files' }, only())).toThrow(/Google Chrome.*CHROMIUM_PATH/);
  });
});
