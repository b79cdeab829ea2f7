// `podns tour` end to end, in both languages: it runs the lesson in its own sandbox (nested in the test
// sandbox) and exits 0 only when every claim it printed was verified. Its output must carry every step.
import { execa } from 'execa';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { busyboxAvailable } from '../helpers/busybox.js';
import { privilegedSerial } from '../helpers/root.js';
import { textFor, type Lang } from '../../src/tour/text.js';

const bin = join(resolve(fileURLToPath(import.meta.url), '../../../..'), 'bin', 'podns.js');
// the PATH a user has: npm puts node_modules/.bin first, where an unrelated `nft` lives
const PATH = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').filter((d) => !d.includes('node_modules')).join(':');

for (const lang of ['en', 'zh-TW'] as Lang[]) {
  privilegedSerial(`podns tour --lang ${lang} verifies every claim and exits 0`, async (t) => {
    if (!busyboxAvailable()) return t.fail('needs /bin/busybox (apt-get install busybox-static)');
    t.timeout(300_000);
    const r = await execa('node', [bin, 'tour', '--lang', lang], {
      reject: false, stdin: 'ignore', all: true, env: { PATH, NO_COLOR: '1' }, extendEnv: false,
    });
    const out = String(r.all ?? '');
    t.is(r.exitCode, 0, out.slice(-3000));
    const text = textFor(lang);
    t.true(out.includes(text.title));
    text.steps.forEach((s, i) => t.true(out.includes(`${text.ui.step(i + 1, 5)} · ${s.title}`), `step ${i + 1} heading`));
    t.true(out.includes(text.cleanup.title));
    t.regex(out, /^\$ podns ns two-containers$/m);
    t.regex(out, /^\$ podns exec two-containers -c client -- wget -qO- 127\.0\.0\.1$/m);
    t.regex(out, /^\$ podns logs two-containers -c www-server$/m);
    t.false(out.includes('✗'), 'no failed claim');
    t.false(out.includes('\u001b['), 'NO_COLOR: no escape codes');
    t.false(/8\.8\.8\.8/.test(out), 'never the real internet');
    const m = /(\d+)/.exec(out.trim().split('\n').pop() ?? '');
    t.truthy(m, 'the last line counts the verified claims');
    t.is(out.split('\n').filter((l) => l.startsWith('✓ ')).length, Number(m![1]));
  });
}

privilegedSerial('podns tour: a bad language is a usage error, nothing starts', async (t) => {
  const r = await execa('node', [bin, 'tour', '--lang', 'fr'], { reject: false, stdin: 'ignore', env: { PATH }, extendEnv: false });
  t.is(r.exitCode, 2);
  t.regex(String(r.stderr), /unknown language "fr"; use --lang en or --lang zh-TW/);
});

privilegedSerial('podns tour --in-sandbox refuses to run outside the tour sandbox', async (t) => {
  const r = await execa('node', [bin, 'tour', '--in-sandbox'], { reject: false, stdin: 'ignore', env: { PATH }, extendEnv: false });
  t.is(r.exitCode, 1);
  t.regex(String(r.stderr), /runs only inside the tour's sandbox/);
});
