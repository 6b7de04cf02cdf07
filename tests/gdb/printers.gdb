# gdb commands for tests/gdb/check_printers.sh; the lines it expects are listed in that script.
set pagination off
set confirm off
# The library is built without debug info, so the kernel is a plain symbol whose demangled name
# starts with its return type; rbreak matches it by regex (in a Debug build,
# `break sc::kernels::cpu::conv2d_forward<float>` does the same).
rbreak ^void sc::kernels::cpu::conv2d_forward<float>[(]
run
# Stopped in the kernel: one frame up is the op (built with debug info in this program).
up
echo == in the op\n
print x
print weight
print bias
print s
print out
# The kernel's OpenMP helper matched the regex too: drop every breakpoint, stop in main.
delete
break stop_here
continue
up
echo == in main\n
print x
print y
print loss
print column
print storage
print node
print impl
print pool
print layout
print undefined
print node.output
# Into the backward pass: the conv2d Node's lambda calls the weight-gradient kernel; one frame
# up, its SavedTensors (x kept for the weight's gradient, nothing for x's) and the gradient g.
delete
rbreak ^void sc::kernels::cpu::conv2d_backward_weight<float>[(]
continue
up
echo == in the backward of conv2d\n
print sx
print sw
print g
kill
quit
