{
  "targets": [
    {
      "target_name": "podns_native",
      "sources": ["native/addon/addon.cc", "native/addon/spawn.cc", "native/addon/netlink.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"]
    },
    {
      "target_name": "pause",
      "type": "executable",
      "sources": ["native/pause/pause.c"],
      "cflags": ["-std=c11", "-Os", "-Wall", "-Wextra"],
      "ldflags": ["-static"]
    },
    {
      "target_name": "podns-helper",
      "type": "executable",
      "sources": ["native/helper/main.c", "native/helper/common.c", "native/helper/sandbox.c", "native/helper/exec.c", "native/helper/shim.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra"],
      "ldflags": ["-static"]
    },
    {
      "target_name": "podns-floor",
      "type": "executable",
      "sources": ["native/bench/floor.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra"]
    }
  ]
}
