/* A growable byte buffer and the JSON text the warehouse reads, byte for byte what Python's
 * json.JSONEncoder(separators=(",", ":"), ensure_ascii=False) writes for the same values.
 */
#ifndef SYNCSIGHT_JSON_TEXT_H
#define SYNCSIGHT_JSON_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "otlp_wire.h"

typedef struct {
    uint8_t *data;
    size_t size;
    size_t capacity;
} TextBuffer;

/* All return 0, or -1 when memory ran out (no exception is set: they run without the GIL). */
int text_reserve(TextBuffer *buffer, size_t extra);
void text_free(TextBuffer *buffer);

static inline int text_append(TextBuffer *buffer, const void *bytes, size_t size) {
    if (buffer->capacity - buffer->size < size && text_reserve(buffer, size) < 0) return -1;
    if (size) {
        memcpy(buffer->data + buffer->size, bytes, size);
        buffer->size += size;
    }
    return 0;
}

static inline int text_append_byte(TextBuffer *buffer, uint8_t byte) {
    if (buffer->size == buffer->capacity && text_reserve(buffer, 1) < 0) return -1;
    buffer->data[buffer->size++] = byte;
    return 0;
}

static inline Slice text_slice(const TextBuffer *buffer, size_t offset, size_t size) {
    Slice slice = {buffer->data + offset, size};
    return slice;
}

/* A JSON string literal of valid UTF-8 text: quotes, backslash and control characters escaped. */
int json_string(TextBuffer *buffer, Slice text);
/* The same, also escaping U+2028 and U+2029 as Go's encoding/json does (array values). */
int go_json_string(TextBuffer *buffer, Slice text);
/* The lowercase hex of an id, quoted. */
int json_hex(TextBuffer *buffer, Slice id);
int json_unsigned(TextBuffer *buffer, uint64_t value);
/* Decimal text of a signed 64-bit integer, unquoted, as str(int) writes it. */
int decimal_signed(TextBuffer *buffer, int64_t value);

#endif
