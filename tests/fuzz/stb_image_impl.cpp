// stb_image compiled from Debian's header inside the fuzz build, instrumented like our code.
// Its definitions in the fuzz target take precedence over the uninstrumented libstb.so.
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
