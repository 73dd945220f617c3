/* Helper of exit_lib_destructor.c: the same library under another name, for dlopen. */
#include "dtor_free.c"
