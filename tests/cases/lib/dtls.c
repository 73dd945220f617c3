/* Helper of root_dtls.c: a library with a global-dynamic __thread variable. Loaded with dlopen, its
 * TLS block is allocated on first use (by ld.so, in each thread) outside any static TLS. */
__thread void *dtls_slot;

void dtls_set(void *p);
void dtls_set(void *p)
{
    dtls_slot = p;
}
