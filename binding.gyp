{
  "variables": {
    "static_cc": "<!(node native/static-cc.cjs)"
  },
  "targets": [
    {
      "target_name": "podns_native",
      "sources": ["native/addon/addon.cc", "native/addon/spawn.cc", "native/addon/netlink.cc", "native/addon/wait.cc", "native/addon/tree.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"]
    },
    {
      "target_name": "pause",
      "type": "none",
      "actions": [{
        "action_name": "static_pause",
        "inputs": ["native/pause/pause.c", "native/common/errname.h", "native/common/caps.h"],
        "outputs": ["<(PRODUCT_DIR)/pause"],
        "action": ["<(static_cc)", "-std=c11", "-Os", "-Wall", "-Wextra", "-static", "-s", "-o", "<@(_outputs)", "native/pause/pause.c"]
      }]
    },
    {
      "target_name": "podns-helper",
      "type": "none",
      "actions": [{
        "action_name": "static_helper",
        "inputs": ["native/helper/main.c", "native/helper/common.c", "native/helper/sandbox.c", "native/helper/exec.c",
                   "native/helper/shim.c", "native/helper/shim_args.c", "native/helper/shim_child.c",
                   "native/helper/shim_rootfs.c", "native/helper/shim_log.c", "native/helper/shim_status.c",
                   "native/helper/shim_devices.c",
                   "native/helper/shim_cgroups.c", "native/helper/shim_attach.c",
                   "native/helper/privileges.c", "native/helper/seccomp.c", "native/helper/privileges.h", "native/helper/syscalls.h", "native/common/caps.h",
                   "native/helper/crilog.c", "native/helper/crilog.h",
                   "native/helper/layer.c", "native/helper/layer_apply.c", "native/helper/layer.h", "native/helper/portforward.c",
                   "native/helper/shim.h", "native/helper/common.h", "native/helper/mountapi.h", "native/common/errname.h"],
        "outputs": ["<(PRODUCT_DIR)/podns-helper"],
        "action": ["<(static_cc)", "-std=gnu11", "-O2", "-Wall", "-Wextra", "-static", "-s", "-o", "<@(_outputs)",
                   "native/helper/main.c", "native/helper/common.c", "native/helper/sandbox.c", "native/helper/exec.c",
                   "native/helper/shim.c", "native/helper/shim_args.c", "native/helper/shim_child.c",
                   "native/helper/shim_rootfs.c", "native/helper/shim_log.c", "native/helper/shim_status.c",
                   "native/helper/shim_devices.c",
                   "native/helper/shim_cgroups.c", "native/helper/shim_attach.c",
                   "native/helper/privileges.c", "native/helper/seccomp.c",
                   "native/helper/crilog.c", "native/helper/layer.c", "native/helper/layer_apply.c", "native/helper/portforward.c"]
      }]
    },
    {
      "target_name": "podns-ping",
      "type": "none",
      "actions": [{
        "action_name": "static_ping",
        "inputs": ["native/ping/ping.c", "native/common/errname.h"],
        "outputs": ["<(PRODUCT_DIR)/podns-ping"],
        "action": ["<(static_cc)", "-std=gnu11", "-Os", "-Wall", "-Wextra", "-static", "-s", "-o", "<@(_outputs)", "native/ping/ping.c"]
      }]
    },
    {
      "target_name": "podns-floor",
      "type": "executable",
      "sources": ["native/bench/floor.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra"]
    }
  ]
}
