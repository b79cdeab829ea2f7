// 導覽的繁體中文版(正體中文,台灣用語)。為 podns 撰寫,依照原課程的脈絡,但不照抄其文字。
import type { TourText } from './text.js';

export const zhTW: TourText = {
  lang: 'zh-TW',
  title: 'podns 導覽:現場看 pause 容器',
  intro:
    '這趟導覽把一堂介紹 Kubernetes pause 容器的課,搬到你正在執行的核心上重演一次:不用 Docker,也不用叢集,改用 podns。' +
    '整個過程都在這次執行專用、用完即丟的沙盒裡進行:它有自己的網路命名空間與掛載命名空間、全新的 /run,以及獨立的 podns 狀態目錄。' +
    '橋接器、路由、防火牆規則與 Pod 全都只存在於沙盒之中,也會跟著沙盒一起消失,主機維持原狀。' +
    '每一步都會列出你會輸入的指令、它實際印出的結果,以及這些結果的意義。' +
    '導覽執行時會逐一驗證自己的每個說法(以 ✓ 標示);只要有一項不成立,就會停下來指出是哪一項,並以狀態碼 1 結束。',
  prepare: {
    title: '準備舞台',
    body: (f) =>
      'podns 不會下載映像檔。課程裡的兩個映像檔在這裡直接用靜態連結的 busybox 做出來:hwchiu/netutils 只負責 sleep,' +
      '讓容器一直活著,方便用 exec 進去;nginx 則是 busybox 內建的 httpd,提供一個網頁。' +
      '原課程 ping 的是網際網路上真實存在的主機;這趟導覽不離開這台機器,所以自己造一個「外面」:' +
      `一個名為 outside 的網路命名空間,位址是 ${f.outside}(保留給文件範例使用的網段),透過一對 veth 接到沙盒上。` +
      'Pod 經由 podns 的橋接器與位址偽裝(masquerade)規則連到它,走的路就跟連上網際網路一樣。',
  },
  steps: [
    {
      title: '兩個容器,同一組網路',
      body: (f) =>
        `hwchiu 是一個普通的 Pod:它的 pause 拿到一個新的網路命名空間,eth0 接在 ${f.bridge} 橋接器上。` +
        'hwchiu2 建立時加了 --network pod:hwchiu,相當於 Docker 的 --net=container:hwchiu:' +
        '它不會有自己的網路命名空間,而是直接進入 hwchiu 已經有的那一個。這中間沒有任何複製或同步。' +
        `兩邊列出的都是編號 ${f.ifindex} 的 eth0,MAC 是 ${f.mac},位址是 ${f.ip},因為這張網路介面本來就只有一張。` +
        `ping 只從 hwchiu 送出,hwchiu2 卻顯示同樣 ${f.tx} 個送出的封包。` +
        '計數器屬於網路介面,網路介面屬於網路命名空間,跟是哪個容器在看無關。',
    },
    {
      title: '提供網路的一方消失了',
      body: (f) =>
        `刪除 hwchiu 會停掉它的 pause,並移除它的 veth 對。hwchiu2 仍然持有這個網路命名空間(inode 依舊是 ${f.netIno}),` +
        '所以命名空間本身還在;但 eth0 沒有留下:它是為 hwchiu 建立的,也跟著 hwchiu 一起離開,hwchiu2 只剩下 lo,對外的路斷了。' +
        '共用別的容器的網路,就等於依賴那個容器。如果它是一個會當掉、會升級、會被刪除的應用程式,' +
        '所有掛在它身上的容器都會跟著斷線。pause 容器要解決的,正是這個問題。',
    },
    {
      title: 'Pod:由 pause 持有命名空間',
      body: (f) =>
        '這份 manifest 就是課程中的 two-containers Pod。podns 最先啟動 pause;pause 建立了 Pod 的網路、IPC 與 UTS 命名空間,' +
        `位址為 ${f.podIp} 的 eth0 也被放進這個網路命名空間。` +
        '接著每個容器帶著自己的根檔案系統(自己的掛載命名空間,內容來自各自的映像檔)啟動,並加入 pause 的網路、IPC 與 UTS 命名空間。' +
        '所以 client 可以從 127.0.0.1 取得網頁伺服器的頁面:loopback 介面屬於它們共同加入的那個網路命名空間,' +
        '網頁伺服器的日誌也記下了一筆來自 127.0.0.1 的請求。Pod 裡不只一個容器時,logs 與 exec 都要用 -c 指定容器,跟 kubectl 一樣。',
    },
    {
      title: '誰和誰共用什麼',
      body: (f) =>
        '每個行程一列,每種命名空間一欄;每一格是該命名空間的 inode 編號,也就是 readlink /proc/PID/ns/TYPE 印出的數字。' +
        '兩個行程的數字相同,就代表它們在同一個命名空間裡。' +
        `在 net、ipc、uts 三欄,每一列都是 pause 的編號:client、網頁伺服器,以及 exec 工作階段(用 podns exec 啟動的 sleep,pid ${f.execPid})` +
        '都待在 pause 的命名空間裡。' +
        (f.ownPid
          ? '容器的 mnt 與 pid 欄標有 *:每個容器有自己看到的檔案系統,也有自己的一套行程編號。'
          : '容器的 mnt 欄標有 *:每個容器有自己看到的檔案系統,pid 命名空間則是整個 Pod 共用的。') +
        'exec 工作階段則與它所進入的容器共用這些命名空間。cgroup、user、time 三欄在每一列都是主機的:podns 不分離這些命名空間。',
    },
    {
      title: 'pause 被殺掉之後',
      body: (f) =>
        `kill -9 讓 pause(pid ${f.pausePid})消失了,podns get 現在顯示這個 Pod 為 Degraded:已經沒有行程代表 Pod 持有這些命名空間。` +
        '容器卻毫無感覺,照常執行;eth0 也還在,編號與位址都沒變。因為只要還有東西參照著,命名空間就會存在:' +
        '容器本身就在裡面,而且 podns 建立 Pod 時,已經用狀態目錄中的 bind mount 把它釘住了。' +
        `podns repair 啟動了新的 pause(pid ${f.newPausePid}),並把它放進同樣的命名空間;網路命名空間前後都是 net:[${f.podNetIno}],` +
        'Pod 恢復完整,一個容器都不必重啟。Kubernetes 的做法不同:kubelet 發現 Pod 的 sandbox 死掉時,會停掉容器、' +
        '建立新的 sandbox 再重新啟動它們,IP 通常也會換掉。無論哪一種,只會等待訊號的行程幾乎不會自己死掉,這正是 pause 被設計得如此精簡的原因。',
    },
  ],
  cleanup: {
    title: '收拾善後',
    body: () =>
      '刪除 Pod 會停止它們的 pause 與容器,並移除 veth、釘住命名空間的掛載點與紀錄。outside 命名空間隨沙盒一起消失,' +
      '而沙盒會在導覽結束時消失。',
  },
  claims: {
    imagesImported: () => '映像檔 hwchiu/netutils 與 nginx 已在映像檔庫中',
    outsideUp: (f) => `外部主機 ${f.outside} 已在自己的網路命名空間中就緒`,
    podsRunning: () => 'hwchiu 與 hwchiu2 都是 Running',
    ping: (f) => `從 hwchiu ping ${f.outside} 有收到回應`,
    sameNetns: (f) => `hwchiu 與 hwchiu2 在同一個網路命名空間 net:[${f.netIno}]`,
    sameEth0: (f) => `兩邊看到同一張 eth0:編號 ${f.ifindex},MAC ${f.mac},位址 ${f.ip}`,
    sameTx: (f) => `兩邊的送出封包數相同(${f.tx}),比 ping 之前的 ${f.txBefore} 至少多了 3 個 ping`,
    kernelCounters: (f) => `hwchiu2 裡的 ifconfig 直接讀核心的 /proc/net/dev,顯示同一張 eth0、同一個位址與同樣的送出封包數(${f.tx})`,
    nsSurvives: (f) => `hwchiu2 的網路命名空間仍然是 net:[${f.netIno}]`,
    onlyLo: () => '刪除 hwchiu 之後,hwchiu2 只看得到 lo(podns net 與 ifconfig 皆然)',
    podRunning: () => 'two-containers 為 Running,2/2 個容器就緒',
    page: () => 'client 從 127.0.0.1 取得了網頁伺服器的頁面',
    logs: () => '網頁伺服器的日誌記錄了來自 127.0.0.1 的請求',
    tableMatchesProc: () => '表中每個 inode 都與該行程 /proc/PID/ns/TYPE 所示相同',
    sharedNetIpcUts: () => '兩個容器與 exec 工作階段都在 pause 的 net、ipc、uts 命名空間中',
    ownMnt: () => '每個容器有自己的 mnt 命名空間;exec 工作階段用的是它所屬容器的',
    pidNs: (f) => f.ownPid ? '每個容器有自己的 pid 命名空間' : '容器在 Pod 共用的 pid 命名空間中',
    hostRest: () => '每個行程的 cgroup、user、time 都是主機的',
    execRow: (f) => `exec 工作階段(pid ${f.execPid})列在 client 之下`,
    degraded: () => 'pause 死掉後,podns get 顯示 two-containers 為 Degraded',
    containersAlive: () => '兩個容器都還在執行',
    eth0Kept: (f) => `eth0 仍在 Pod 中,編號 ${f.ifindex},位址 ${f.podIp},位於 net:[${f.podNetIno}]`,
    stillTalk: () => 'client 仍然能經由 127.0.0.1 連到網頁伺服器',
    repaired: (f) => `podns repair 之後,新的 pause(pid ${f.newPausePid})位於 net:[${f.podNetIno}],Pod 為 Running`,
    notRestarted: () => '容器的行程都還是原來那些:沒有任何一個被重啟',
    nothingLeft: () => '導覽的 pause 與容器行程都已結束,沒有殘留',
  },
  ui: {
    step: (n, total) => `第 ${n}/${total} 步`,
    pressEnter: '按 Enter 繼續…',
    passed: (n) => `${n} 項說法全部驗證通過。`,
    failed: (claim) => `說法未通過驗證:${claim}`,
    stopped: '導覽已中止,正在收拾。',
    keep: (o) =>
      `--keep:沙盒會保留到你按下 Enter 為止。請以 root 身分在另一個終端機執行:\n` +
      `  nsenter -t ${o.pid} -n -m\n` +
      `  export PODNS_ROOT=${o.root} PODNS_NETNS_DIR=${o.netnsDir}\n` +
      `  ${o.podns} get; ${o.podns} ns; ${o.podns} net two-containers\n` +
      `按下 Enter 後會刪除這些 Pod;導覽結束時沙盒也會消失。`,
  },
};
