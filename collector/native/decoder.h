/* The state of one native decode: limits, the Python hooks for rare shapes, reusable scratch
 * space and the rows text being written. Shared by attribute_maps.c and request_rows.c.
 *
 * The walk runs without the GIL: only Python calls (the hooks, double formatting) take it back,
 * through gil_hold and gil_release. Memory comes from PyMem_Raw*, which needs no GIL, and a
 * failed allocation returns FAILED with no exception set (module.c raises MemoryError). */
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
    size_t slot; /* its place in Decoder.slots */
    int business;
} MapEntry;

typedef struct {
    int64_t max_span_attributes;
    int64_t max_value_length;
    int64_t max_events;
    int64_t max_links;
    int64_t max_event_attributes;
    int64_t max_link_attributes;
    int64_t max_business_attributes;
    int64_t max_row_bytes; /* resource and scope columns repeated by the rows of one request */
} NativeLimits;

typedef struct {
    NativeLimits limits;
    Slice business_prefix;
    Slice *kind_texts;   /* the JSON text of each SpanKind value (in the caller's bytes) */
    size_t kind_count;
    Slice *status_texts; /* the JSON text of each StatusCode value */
    size_t status_count;
    PyThreadState *released; /* the saved thread state while the GIL is released, else NULL */
    uint64_t hash_seed;      /* of the attribute-key hash set, fixed per process */
    /* hooks (owned references) */
    PyObject *resource_hook;
    PyObject *scope_hook;
    PyObject *key_value_hook;
    PyObject *span_rejected_hook;
    PyObject *link_rejected_hook;
    PyObject *business_rejected_hook;
    PyObject *over_budget_hook;

    TextBuffer rows;
    TextBuffer arena;      /* keys and fragments of the attribute map being built */
    TextBuffer value_text; /* one attribute value's text, before it is escaped */
    TextBuffer envelope;   /* JSON of the current resource and scope columns */
    size_t resource_columns_size; /* service name and resource attributes: the envelope's start */
    MapEntry *entries;
    size_t entry_count;
    size_t entry_capacity;
    /* Open-addressing hash set of the map's keys: entry index + 1, 0 for a free slot. */
    uint32_t *slots;
    size_t slot_count; /* a power of two, at least twice entry_count */

    int64_t row_count;
    int64_t row_bytes_spent; /* resource and scope column bytes the rows repeat so far */
    int64_t dropped_attributes;
    int64_t truncated_values;
    int64_t dropped_events;
    int64_t dropped_links;
} Decoder;

static inline void gil_hold(Decoder *decoder) {
    if (decoder->released != NULL) {
        PyEval_RestoreThread(decoder->released);
        decoder->released = NULL;
    }
}

static inline void gil_release(Decoder *decoder) {
    if (decoder->released == NULL) decoder->released = PyEval_SaveThread();
}

int slices_append(SliceList *list, Slice slice);
void slices_free(SliceList *list);

/* Attribute maps (attribute_maps.c): add encoded KeyValues, then write the map as a JSON object
 * capped at max_count entries; duplicate keys keep their first position and their last value. */
int map_add_key_value(Decoder *decoder, Slice encoded);
int64_t map_business_count(const Decoder *decoder);
int map_write(Decoder *decoder, TextBuffer *out, int64_t max_count);
void map_clear(Decoder *decoder);
void map_free(Decoder *decoder);

/* One span's fields (span_fields.c), reused from span to span. */
typedef struct {
    uint64_t time;
    Slice name;
    size_t attributes_begin, attributes_end; /* in SpanScratch.nested_attributes */
} EventFields;

typedef struct {
    Slice trace_id, span_id, trace_state;
    size_t attributes_begin, attributes_end;
} LinkFields;

typedef struct {
    Slice trace_id, span_id, trace_state, parent_span_id, name, status;
    int32_t kind;
    uint64_t start, end;
    SliceList attributes, events, links, nested_attributes;
    EventFields *parsed_events;
    LinkFields *parsed_links;
    size_t parsed_capacity;
} SpanScratch;

extern const Slice EMPTY_SLICE;

static inline int valid_string(Slice text) { return utf8_code_points(text) >= 0; }

/* One length-delimited field of an expected number; a known field with another wire type is left
 * to the Python decoder rather than guessing how upb treats it. */
#define READ_BYTES_OR_GIVE_UP(reader, wire_type, target)                                         \
    do {                                                                                        \
        if ((wire_type) != WIRE_LENGTH_DELIMITED || wire_read_bytes((reader), (target)) < 0)   \
            return GIVE_UP;                                                                     \
    } while (0)

/* A text field (valid UTF-8) cut to the length cap of attribute values, the cut counted. */
static inline Slice capped_field(Decoder *decoder, Slice text) {
    int64_t cap = decoder->limits.max_value_length;
    if ((uint64_t)text.size <= (uint64_t)cap || utf8_code_points(text) <= cap) return text;
    decoder->truncated_values++;
    return utf8_prefix(text, cap);
}

int parse_span(SpanScratch *span, Slice encoded);
int reserve_parsed(SpanScratch *span, size_t count);
int parse_event(SpanScratch *span, Slice encoded, EventFields *event);
int parse_link(SpanScratch *span, Slice encoded, LinkFields *link);
/* Status code text and message, as Status.FromString reads them (code is an open int32 enum). */
int status_columns(Decoder *decoder, Slice encoded, Slice *code_text, Slice *message);

/* The whole request (request_rows.c). */
int decode_request_rows(Decoder *decoder, Slice body);

#endif
