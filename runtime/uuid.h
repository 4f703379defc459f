/*
 * uuid.h - random ids (base layer: no runtime state).
 */
#ifndef MB_UUID_H
#define MB_UUID_H

#include <stdbool.h>

/* A random RFC 4122 version 4 id ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx")
 * from libsodium's CSPRNG, NUL-terminated. */
void mb_uuid(char out[37]);

/* Is s a UUID in the 8-4-4-4-12 hex form (either case)? NULL: false. */
bool mb_uuid_valid(const char *s);

/* Copy the 36 characters of a valid UUID s to out in lower case (the form
 * stored and compared everywhere), NUL-terminated. */
void mb_uuid_lower(const char *s, char out[37]);

#endif
