#pragma once
// One function per method: its registry entry (name, hyper-parameters, how to build it).
// Each is defined in the method's own file under ssl/methods/ and listed once in
// ssl/methods/registry.cpp.
#include "ssl/method.h"

namespace sc::ssl {

MethodInfo simclr_method();        // ssl/methods/simclr.cpp
MethodInfo byol_method();          // ssl/methods/byol.cpp
MethodInfo simsiam_method();       // ssl/methods/simsiam.cpp
MethodInfo mocov3_method();        // ssl/methods/mocov3.cpp
MethodInfo barlow_twins_method();  // ssl/methods/barlow_twins.cpp
MethodInfo vicreg_method();        // ssl/methods/vicreg.cpp

}  // namespace sc::ssl
