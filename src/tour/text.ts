// The tour's words, one module per language (text.en.ts, text.zh-TW.ts), both written for podns from
// the lesson's outline (not translated from it). Values measured during the run (addresses, inodes,
// counters) reach the paragraphs through Facts, so a paragraph only states numbers that were observed.
import { PodnsError } from '../errors.js';
import { en } from './text.en.js';
import { zhTW } from './text.zh-TW.js';

export type Lang = 'en' | 'zh-TW';
export const LANGS: readonly Lang[] = ['en', 'zh-TW'];

/** Everything the tour observed, filled in as it goes. */
export interface Facts {
  outside: string;
  // step 1
  ip: string;
  mac: string;
  ifindex: number;
  txBefore: number;
  tx: number;
  netIno: number;
  hostVeth: string;
  bridge: string;
  // step 3
  podIp: string;
  page: string;
  // step 4/5
  podNetIno: number;
  pausePid: number;
  newPausePid: number;
  execPid: number;
  // step 4: what the ns table showed about pid namespaces (own per container, or the pod's)
  ownPid: boolean;
}

export type F = Partial<Facts>;

export interface StepText { title: string; body: (f: F) => string }

export interface TourText {
  lang: Lang;
  title: string;
  intro: string;
  prepare: StepText;
  steps: [StepText, StepText, StepText, StepText, StepText];
  cleanup: StepText;
  claims: {
    imagesImported: (f: F) => string;
    outsideUp: (f: F) => string;
    podsRunning: (f: F) => string;
    ping: (f: F) => string;
    sameNetns: (f: F) => string;
    sameEth0: (f: F) => string;
    sameTx: (f: F) => string;
    kernelCounters: (f: F) => string;
    nsSurvives: (f: F) => string;
    onlyLo: (f: F) => string;
    podRunning: (f: F) => string;
    page: (f: F) => string;
    logs: (f: F) => string;
    tableMatchesProc: (f: F) => string;
    sharedNetIpcUts: (f: F) => string;
    ownMnt: (f: F) => string;
    pidNs: (f: F) => string;
    hostRest: (f: F) => string;
    execRow: (f: F) => string;
    degraded: (f: F) => string;
    containersAlive: (f: F) => string;
    eth0Kept: (f: F) => string;
    stillTalk: (f: F) => string;
    repaired: (f: F) => string;
    notRestarted: (f: F) => string;
    nothingLeft: (f: F) => string;
  };
  ui: {
    step: (n: number, total: number) => string;
    pressEnter: string;
    passed: (n: number) => string;
    failed: (claim: string) => string;
    stopped: string;
    keep: (o: { pid: number; root: string; netnsDir: string; podns: string }) => string;
  };
}

export function textFor(lang: string | undefined): TourText {
  if (lang === undefined || lang === 'en') return en;
  if (lang === 'zh-TW' || lang === 'zh-tw' || lang === 'zh_TW') return zhTW;
  throw new PodnsError('EUSAGE', `podns tour: unknown language "${lang}"; use --lang en or --lang zh-TW`);
}
