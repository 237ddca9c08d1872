/* The state of one native decode: limits, the Python hooks for rare shapes, reusable scratch
 * space and the rows text being written. Shared by attribute_maps.c and request_rows.c. */
#ifndef SYNCSIGHT_DECODER_H
#define SYNCSIGHT_DECODER_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "json_text.h"
#include "otlp_wire.h"

/* Every step returns DECODED, or GIVE_UP when the input is malformed or shaped in a way this fast
 * path leaves to the Python decoder, or FAILED with a Python exception set. */
enum { DECODED = 0, GIVE_UP = 1, FAILED = -1 };

typedef struct {
    Slice *items;
    size_t count;
    size_t capacity;
} SliceList;

typedef struct {
    size_t key_offset; /* the raw UTF-8 key, in the arena */
    size_t key_size;
    size_t fragment_offset; /* "key":"value" as JSON, in the arena */
    size_t fragment_size;
    uint64_t key_hash;
    int business;
} MapEntry;

typedef struct {
    int64_t max_span_attributes;
    int64_t max_value_length;
    int64_t max_events;
    int64_t max_links;
    int64_t max_event_attributes;
    int64_t max_link_attributes;
} NativeLimits;

typedef struct {
    NativeLimits limits;
    Slice business_prefix;
    PyObject *kind_texts;   /* tuple of bytes: the JSON text of each SpanKind value */
    PyObject *status_texts; /* tuple of bytes: the JSON text of each StatusCode value */
    /* hooks (owned references) */
    PyObject *resource_hook;
    PyObject *scope_hook;
    PyObject *key_value_hook;
    PyObject *span_rejected_hook;
    PyObject *link_rejected_hook;

    TextBuffer rows;
    TextBuffer arena;      /* keys and fragments of the attribute map being built */
    TextBuffer value_text; /* one attribute value's text, before it is escaped */
    TextBuffer envelope;   /* JSON of the current resource and scope columns */
    size_t resource_columns_size; /* service name and resource attributes: the envelope's start */
    MapEntry *entries;
    size_t entry_count;
    size_t entry_capacity;

    int64_t row_count;
    int64_t dropped_attributes;
    int64_t truncated_values;
    int64_t dropped_events;
    int64_t dropped_links;
} Decoder;

int slices_append(SliceList *list, Slice slice);
void slices_free(SliceList *list);

/* Attribute maps (attribute_maps.c): add encoded KeyValues, then write the map as a JSON object
 * capped at max_count entries; duplicate keys keep their first position and their last value. */
int map_add_key_value(Decoder *decoder, Slice encoded);
int map_write(Decoder *decoder, TextBuffer *out, int64_t max_count);
void map_clear(Decoder *decoder);
void map_free(Decoder *decoder);

/* The whole request (request_rows.c). */
int decode_request_rows(Decoder *decoder, Slice body);

#endif
