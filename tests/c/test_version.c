/* The version macros of the header agree with the library loaded at run time. */
#include "check.h"

TEST(the_header_and_the_library_agree) {
    char text[32];
    CHECK_EQ(PL_VERSION_HEX, (PL_VERSION_MAJOR << 16) | (PL_VERSION_MINOR << 8) | PL_VERSION_PATCH);
    CHECK_EQ(pl_version(), PL_VERSION_HEX);
    snprintf(text, sizeof text, "%d.%d.%d", PL_VERSION_MAJOR, PL_VERSION_MINOR, PL_VERSION_PATCH);
    CHECK_STR(pl_version_string(), text);
}

int main(void) {
    RUN(the_header_and_the_library_agree);
    return 0;
}
