#pragma once
// One function per method: its registry entry (name, hyper-parameters, how to build it).
// Each is defined in the method's own file under ssl/methods/ and listed once in
// ssl/methods/registry.cpp.
#include "ssl/method.h"

namespace sc::ssl {

MethodInfo simclr_method();  // ssl/methods/simclr.cpp

}  // namespace sc::ssl
