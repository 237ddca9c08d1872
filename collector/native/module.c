/* collector._otlp_native: OTLP protobuf trace requests straight to otel_traces JSON rows.
 *
 * decode_request(body, limits, kind_texts, status_texts, business_prefix, hooks) returns
 * (rows_text, row_count, dropped_attributes, truncated_values, dropped_events, dropped_links), or
 * None when the request is malformed or unusual enough that the Python decoder must read it.
 * collector/native_decode.py is the only caller; collector/decode.py is the reference.
 */
#include <time.h>

#include "decoder.h"

static uint64_t hash_seed; /* set once when the module is loaded */

static int read_limits(PyObject *limits, NativeLimits *native) {
    int64_t *targets[] = {
        &native->max_span_attributes, &native->max_value_length, &native->max_events,
        &native->max_links, &native->max_event_attributes, &native->max_link_attributes,
        &native->max_business_attributes, &native->max_row_bytes,
    };
    Py_ssize_t expected = (Py_ssize_t)(sizeof targets / sizeof targets[0]);
    if (PyTuple_GET_SIZE(limits) != expected) {
        PyErr_Format(PyExc_ValueError, "limits: expected a tuple of %zd ints, got %zd items", expected,
                     PyTuple_GET_SIZE(limits));
        return -1;
    }
    for (Py_ssize_t index = 0; index < expected; index++) {
        int overflow;
        long long value = PyLong_AsLongLongAndOverflow(PyTuple_GET_ITEM(limits, index), &overflow);
        if (value == -1 && PyErr_Occurred()) return -1;
        if (overflow > 0) value = INT64_MAX; /* a cap above anything a request can carry */
        if (overflow < 0 || value < 0) {
            PyErr_Format(PyExc_ValueError, "limits[%zd]: expected an int >= 0", index);
            return -1;
        }
        *targets[index] = value;
    }
    return 0;
}

/* The bytes of a tuple of bytes as slices, so the walk reads them without the GIL. */
static int read_texts(PyObject *texts, const char *name, Slice **slices, size_t *count) {
    Py_ssize_t size = PyTuple_GET_SIZE(texts);
    *slices = PyMem_RawMalloc((size_t)(size ? size : 1) * sizeof **slices);
    if (*slices == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *count = (size_t)size;
    for (Py_ssize_t index = 0; index < size; index++) {
        PyObject *text = PyTuple_GET_ITEM(texts, index);
        if (!PyBytes_Check(text)) {
            PyErr_Format(PyExc_TypeError, "%s[%zd]: expected bytes of JSON text", name, index);
            return -1;
        }
        (*slices)[index].data = (const uint8_t *)PyBytes_AS_STRING(text);
        (*slices)[index].size = (size_t)PyBytes_GET_SIZE(text);
    }
    return 0;
}

static int bind_hooks(Decoder *decoder, PyObject *hooks) {
    struct {
        PyObject **target;
        const char *name;
    } wanted[] = {
        {&decoder->resource_hook, "resource"},
        {&decoder->scope_hook, "scope"},
        {&decoder->key_value_hook, "key_value"},
        {&decoder->span_rejected_hook, "span_rejected"},
        {&decoder->link_rejected_hook, "link_rejected"},
        {&decoder->business_rejected_hook, "business_rejected"},
        {&decoder->over_budget_hook, "over_budget"},
    };
    for (size_t index = 0; index < sizeof wanted / sizeof wanted[0]; index++) {
        *wanted[index].target = PyObject_GetAttrString(hooks, wanted[index].name);
        if (*wanted[index].target == NULL) return -1;
    }
    return 0;
}

static void release_decoder(Decoder *decoder) {
    Py_CLEAR(decoder->resource_hook);
    Py_CLEAR(decoder->scope_hook);
    Py_CLEAR(decoder->key_value_hook);
    Py_CLEAR(decoder->span_rejected_hook);
    Py_CLEAR(decoder->link_rejected_hook);
    Py_CLEAR(decoder->business_rejected_hook);
    Py_CLEAR(decoder->over_budget_hook);
    PyMem_RawFree(decoder->kind_texts);
    PyMem_RawFree(decoder->status_texts);
    text_free(&decoder->rows);
    text_free(&decoder->arena);
    text_free(&decoder->value_text);
    text_free(&decoder->envelope);
    map_free(decoder);
}

static PyObject *decode_request(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *body, *limits, *kind_texts, *status_texts, *business_prefix, *hooks;
    if (!PyArg_ParseTuple(args, "SO!O!O!SO:decode_request", &body, &PyTuple_Type, &limits, &PyTuple_Type,
                          &kind_texts, &PyTuple_Type, &status_texts, &business_prefix, &hooks))
        return NULL;
    Decoder decoder;
    memset(&decoder, 0, sizeof decoder);
    decoder.hash_seed = hash_seed;
    decoder.business_prefix.data = (const uint8_t *)PyBytes_AS_STRING(business_prefix);
    decoder.business_prefix.size = (size_t)PyBytes_GET_SIZE(business_prefix);
    PyObject *answer = NULL;
    if (read_limits(limits, &decoder.limits) < 0 ||
        read_texts(kind_texts, "kind_texts", &decoder.kind_texts, &decoder.kind_count) < 0 ||
        read_texts(status_texts, "status_texts", &decoder.status_texts, &decoder.status_count) < 0 ||
        bind_hooks(&decoder, hooks) < 0)
        goto done;
    /* body, the texts and the prefix are immutable bytes objects the caller holds: their buffers
     * outlive the decode, which reads them with the GIL released. */
    Slice request = {(const uint8_t *)PyBytes_AS_STRING(body), (size_t)PyBytes_GET_SIZE(body)};
    gil_release(&decoder);
    int status = decode_request_rows(&decoder, request);
    gil_hold(&decoder);
    if (status == FAILED) {
        if (!PyErr_Occurred()) PyErr_NoMemory(); /* the walk's allocations set no exception */
        goto done;
    }
    if (status == GIVE_UP) {
        answer = Py_NewRef(Py_None);
        goto done;
    }
    answer = Py_BuildValue("y#LLLLL", decoder.rows.data ? (const char *)decoder.rows.data : "", (Py_ssize_t)decoder.rows.size,
                           (long long)decoder.row_count, (long long)decoder.dropped_attributes,
                           (long long)decoder.truncated_values, (long long)decoder.dropped_events,
                           (long long)decoder.dropped_links);
done:
    release_decoder(&decoder);
    return answer;
}

static PyMethodDef methods[] = {
    {"decode_request", decode_request, METH_VARARGS,
     "Rows text of an OTLP protobuf ExportTraceServiceRequest, or None for the Python decoder."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT, "collector._otlp_native",
    "The compiled fast path of collector.decode (see collector/native_decode.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__otlp_native(void) {
    uint64_t seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&module_definition ^ (uint64_t)clock();
    hash_seed = seed * 0x9e3779b97f4a7c15u;
    return PyModule_Create(&module_definition);
}
