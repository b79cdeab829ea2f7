import test from 'ava';
import { readlinkSync } from 'node:fs';
import { privileged } from '../helpers/root.js';
import { native } from '../../src/native/index.js';
import { NS_TYPES, formatNsId, nsIdentities, sameNamespace } from '../../src/namespaces/identities.js';
import { inodeOf, startTarget } from './target.js';

test('nsIdentities(self) matches readlink /proc/self/ns/*', (t) => {
  const ids = nsIdentities('self');
  for (const type of NS_TYPES) {
    let link: string | undefined;
    try {
      link = readlinkSync(`/proc/self/ns/${type}`);
    } catch {
      link = undefined;
    }
    if (link === undefined) t.is(ids[type], null, type);
    else {
      t.is(ids[type]!.ino, inodeOf(link), type);
      t.is(formatNsId(type, ids[type]), link);
    }
  }
  t.true(sameNamespace(ids.net, nsIdentities(process.pid).net));
});

test('sameNamespace needs both known and equal', (t) => {
  t.true(sameNamespace({ dev: 4, ino: 10 }, { dev: 4, ino: 10 }));
  t.false(sameNamespace({ dev: 4, ino: 10 }, { dev: 4, ino: 11 }));
  t.false(sameNamespace({ dev: 4, ino: 10 }, { dev: 5, ino: 10 }));
  t.false(sameNamespace(null, null));
  t.false(sameNamespace({ dev: 4, ino: 10 }, null));
});

test('a process that does not exist is ESRCH; a bad pid a TypeError', (t) => {
  t.throws(() => nsIdentities(0x3fffffff), { code: 'ESRCH' });
  t.throws(() => nsIdentities(-1), { instanceOf: TypeError });
  t.throws(() => nsIdentities(1.5), { instanceOf: TypeError });
});

privileged('a process in new net/uts namespaces differs exactly there', (t) => {
  const target = startTarget(t, native.CLONE_NEWNET | native.CLONE_NEWUTS);
  const self = nsIdentities('self');
  const other = nsIdentities(target.pid);
  t.false(sameNamespace(self.net, other.net));
  t.false(sameNamespace(self.uts, other.uts));
  t.true(sameNamespace(self.ipc, other.ipc));
  t.true(sameNamespace(self.mnt, other.mnt));
  t.true(sameNamespace(self.pid, other.pid));
  t.is(other.net!.ino, inodeOf(readlinkSync(`/proc/${target.pid}/ns/net`)));
  target.stop();
  t.throws(() => nsIdentities(target.pid), { code: 'ESRCH' });
});
