/*
 * A dynamically linked program that needs libcrypto at run time: kiln resolves its shared-library
 * closure (libcrypto.so.3, libc.so.6 and the loader) into the image.
 *
 * Prints the OpenSSL version, then how many certificates the CA bundle holds: the file named by
 * SSL_CERT_FILE (kiln sets it when the image ships a ca-bundle) or OpenSSL's default.
 */
#include <stdio.h>
#include <stdlib.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

int main(void) {
    puts(OpenSSL_version(OPENSSL_VERSION));

    const char *bundle = getenv("SSL_CERT_FILE");
    if (bundle == NULL || *bundle == '\0')
        bundle = X509_get_default_cert_file();
    FILE *f = fopen(bundle, "r");
    if (f == NULL) {
        printf("ca bundle: cannot open %s\n", bundle);
        return 0;
    }
    int count = 0;
    X509 *cert;
    while ((cert = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        X509_free(cert);
        count++;
    }
    fclose(f);
    printf("ca bundle: %d certificates in %s\n", count, bundle);
    return 0;
}
