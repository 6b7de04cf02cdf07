#pragma once
// Names tools/gdb/simclr_printers.py in the .debug_gdb_scripts section of every program that
// links the engine, so gdb loads the pretty-printers by itself (a Tensor then prints as
// "sc::Tensor float32[2, 3] on cpu ..." instead of a shared_ptr). gdb only loads scripts from
// folders you trust; add this line to ~/.gdbinit once:
//   add-auto-load-safe-path /path/to/simclr.cpp/tools/gdb
// CMake passes the script's absolute path (SC_GDB_PRINTERS, option SC_GDB_AUTOLOAD). Included
// by core/tensor.cpp only: every program uses Tensor, so the linker always keeps that object.
#if defined(SC_GDB_PRINTERS) && defined(__ELF__)
// Entry format (gdb manual, "dotdebug_gdb_scripts section"): one byte 1 = "a Python file",
// then the file name, NUL-terminated. "MS" (mergeable strings) keeps one copy per program.
asm(".pushsection \".debug_gdb_scripts\", \"MS\", @progbits, 1\n"
    ".byte 1\n"
    ".asciz \"" SC_GDB_PRINTERS "\"\n"
    ".popsection\n");
#endif
