// The header compiles as C++ and its extern "C" guards give the functions C linkage: this
// program links against libphaseloop and runs a loop with a C++ callback.
#include <phaseloop.h>

#include <cstdio>

namespace {

extern "C" void on_immediate(pl_loop *lp, void *data) {
    (void)lp;
    *static_cast<int *>(data) += 1;
}

}  // namespace

int main() {
    pl_loop *lp = pl_loop_new(nullptr);
    if (lp == nullptr) return 1;
    int runs = 0;
    if (pl_set_immediate(lp, on_immediate, &runs, nullptr, nullptr) != PL_OK) return 1;
    if (pl_run(lp, PL_RUN_DEFAULT) != 0 || runs != 1) return 1;
    if (pl_loop_free(lp) != PL_OK) return 1;
    std::printf("ok - the header works from C++ (phaseloop %s)\n", pl_version_string());
    return 0;
}
