// An image's USER resolved in its layers as overlay shows them: the top layer's /etc/passwd wins, a whiteout
// hides a lower one, an opaque /etc ends the search; a symlinked /etc or /etc/passwd is refused, never followed.
import test from 'ava';
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PodnsError } from '../../src/errors.js';
import { native } from '../../src/native/index.js';
import { resolveImageUser } from '../../src/image/user.js';
import { privileged } from '../helpers/root.js';

function layers(t: { teardown(fn: () => void): void }, n: number): string[] {
  const base = mkdtempSync(join(process.env.PODNS_SANDBOX === '1' ? '/run' : '/tmp', 'podns-test-user-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  // top first, as lowerDirs gives them
  return Array.from({ length: n }, (_, i) => {
    const d = join(base, String(i));
    mkdirSync(join(d, 'etc'), { recursive: true });
    return d;
  });
}

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nweb:x:101:102:web:/:/bin/false\n# comment\nbroken line\n';

test('numeric users need no files; names come from /etc/passwd and /etc/group', (t) => {
  const [top] = layers(t, 1);
  t.deepEqual(resolveImageUser('1000', [top!], 'img'), { uid: 1000, gid: 0 });
  t.deepEqual(resolveImageUser('1000:2000', [top!], 'img'), { uid: 1000, gid: 2000 });
  writeFileSync(join(top!, 'etc', 'passwd'), PASSWD);
  writeFileSync(join(top!, 'etc', 'group'), 'root:x:0:\nwww:x:33:\n');
  t.deepEqual(resolveImageUser('web', [top!], 'img'), { uid: 101, gid: 102 });
  t.deepEqual(resolveImageUser('101', [top!], 'img'), { uid: 101, gid: 102 }, 'a numeric uid listed in passwd: its primary group');
  t.deepEqual(resolveImageUser('web:www', [top!], 'img'), { uid: 101, gid: 33 });
  t.deepEqual(resolveImageUser('0:www', [top!], 'img'), { uid: 0, gid: 33 });
  const e1 = t.throws(() => resolveImageUser('ghost', [top!], 'img'), { instanceOf: PodnsError });
  t.is(e1!.message, 'img: the image\'s user "ghost" is not in its /etc/passwd; give a numeric user (--user UID[:GID] / runAsUser)');
  t.throws(() => resolveImageUser('web:nogroup', [top!], 'img'), { message: /the image's group "nogroup" is not in its \/etc\/group/ });
  t.throws(() => resolveImageUser('web:', [top!], 'img'), { message: /is not USER\[:GROUP\]/ });
});

privileged('layers: the top passwd wins, a whiteout hides the lower one, an opaque /etc ends the search', async (t) => {
  const [top, mid, bottom] = layers(t, 3);
  writeFileSync(join(bottom!, 'etc', 'passwd'), 'web:x:1:1::/:/bin/sh\n');
  writeFileSync(join(mid!, 'etc', 'passwd'), 'web:x:2:2::/:/bin/sh\n');
  t.deepEqual(resolveImageUser('web', [top!, mid!, bottom!], 'img'), { uid: 2, gid: 2 });
  await execa('mknod', [join(top!, 'etc', 'passwd'), 'c', '0', '0']);
  t.throws(() => resolveImageUser('web', [top!, mid!, bottom!], 'img'), { message: /is not in its \/etc\/passwd/ }, 'whiteout');
  rmSync(join(top!, 'etc', 'passwd'));
  rmSync(join(mid!, 'etc', 'passwd'));
  native.lsetxattr(join(mid!, 'etc'), 'trusted.overlay.opaque', Buffer.from('y'));
  t.throws(() => resolveImageUser('web', [top!, mid!, bottom!], 'img'), { message: /is not in its \/etc\/passwd/ }, 'opaque /etc');
});

privileged('hostile: a symlinked /etc/passwd or /etc is refused, not followed to the host\'s', (t) => {
  const [top, bottom] = layers(t, 2);
  writeFileSync(join(bottom!, 'etc', 'passwd'), 'web:x:1:1::/:/bin/sh\n');
  symlinkSync('/etc/passwd', join(top!, 'etc', 'passwd'));
  // "root" is in the host's /etc/passwd: followed, it would resolve
  const e = t.throws(() => resolveImageUser('root', [top!, bottom!], 'img'), { instanceOf: PodnsError });
  t.is(e!.message, 'img: /etc/passwd is a symlink in the image; podns does not follow it to find the user; give a numeric user (--user UID[:GID] / runAsUser)');
  rmSync(join(top!, 'etc'), { recursive: true });
  symlinkSync('/etc', join(top!, 'etc'));
  t.throws(() => resolveImageUser('root', [top!, bottom!], 'img'), { message: /^img: \/etc is a symlink in the image/ });
});
