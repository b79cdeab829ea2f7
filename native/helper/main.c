// podns-helper: sandbox | exec | shim | apply-layer | portforward. See docs/DESIGN.md for the command contracts.
#include "common.h"

static void usage(FILE *f) {
  fputs("usage: podns-helper sandbox [--] CMD ARGS...\n"
        "       podns-helper exec [--pidfd FD | --ns TYPE=PATH ...] [--tty] [--uid N] [--gid N] [--cwd DIR]\n"
        "                         [--clear-env] [--env K=V ...] [--errfd FD] -- CMD ARGS...\n"
        "       podns-helper shim --dir CONTAINER_DIR --ready-fd FD ... -- CMD ARGS...\n"
        "       podns-helper apply-layer [--max-bytes N] [--max-entries N] DIR < LAYER.tar\n"
        "       podns-helper portforward --netns PATH --port N\n",
        f);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return EXIT_SETUP;
  }
  const char *mode = argv[1];
  if (strcmp(mode, "-h") == 0 || strcmp(mode, "--help") == 0) {
    usage(stdout);
    return 0;
  }
  // Each mode sees its own argv: argv[0] is the mode name, like getopt expects.
  if (strcmp(mode, "sandbox") == 0) {
    helper_mode = "sandbox";
    return sandbox_main(argc - 1, argv + 1);
  }
  if (strcmp(mode, "exec") == 0) {
    helper_mode = "exec";
    return exec_main(argc - 1, argv + 1);
  }
  if (strcmp(mode, "shim") == 0) {
    helper_mode = "shim";
    return shim_main(argc - 1, argv + 1);
  }
  if (strcmp(mode, "apply-layer") == 0) {
    helper_mode = "apply-layer";
    return apply_layer_main(argc - 1, argv + 1);
  }
  if (strcmp(mode, "portforward") == 0) {
    helper_mode = "portforward";
    return portforward_main(argc - 1, argv + 1);
  }
  fprintf(stderr, "podns-helper: unknown mode \"%s\" (use sandbox, exec, shim, apply-layer or portforward)\n", mode);
  return EXIT_SETUP;
}
