/* The header on its own compiles as strict C99 (run.sh adds -pedantic). */
#include <phaseloop.h>

int main(void) { return pl_version() == PL_VERSION_HEX ? 0 : 1; }
