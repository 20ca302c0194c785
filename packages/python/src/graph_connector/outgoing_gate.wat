;; The outgoing gate: a small component through which the package's Python
;; `wasi:http/outgoing-handler#handle` reaches the wasi-http implementation that
;; wasmtime-py links with `add_wasi_http()`.
;;
;; Python cannot read a request that lives in Wasmtime's resource table, nor call a
;; linker's host function itself. This component can: it exports `destination` (the
;; request's scheme and authority, read with the stock getters) and the stock `handle`,
;; so the package reads where a request goes, refuses it or passes it on. It holds no
;; state between calls.
(component
  (import "wasi:http/types@0.2.12" (instance $types
    (export "outgoing-request" (type $outgoing-request (sub resource)))
    (export "request-options" (type (sub resource)))
    (export "future-incoming-response" (type (sub resource)))
    (type $dns (record (field "rcode" (option string)) (field "info-code" (option u16))))
    (export "DNS-error-payload" (type $dns-error-payload (eq $dns)))
    (type $tls (record (field "alert-id" (option u8)) (field "alert-message" (option string))))
    (export "TLS-alert-received-payload" (type $tls-alert-received-payload (eq $tls)))
    (type $field-size (record (field "field-name" (option string)) (field "field-size" (option u32))))
    (export "field-size-payload" (type $field-size-payload (eq $field-size)))
    (type $error (variant
      (case "DNS-timeout")
      (case "DNS-error" $dns-error-payload)
      (case "destination-not-found")
      (case "destination-unavailable")
      (case "destination-IP-prohibited")
      (case "destination-IP-unroutable")
      (case "connection-refused")
      (case "connection-terminated")
      (case "connection-timeout")
      (case "connection-read-timeout")
      (case "connection-write-timeout")
      (case "connection-limit-reached")
      (case "TLS-protocol-error")
      (case "TLS-certificate-error")
      (case "TLS-alert-received" $tls-alert-received-payload)
      (case "HTTP-request-denied")
      (case "HTTP-request-length-required")
      (case "HTTP-request-body-size" (option u64))
      (case "HTTP-request-method-invalid")
      (case "HTTP-request-URI-invalid")
      (case "HTTP-request-URI-too-long")
      (case "HTTP-request-header-section-size" (option u32))
      (case "HTTP-request-header-size" (option $field-size-payload))
      (case "HTTP-request-trailer-section-size" (option u32))
      (case "HTTP-request-trailer-size" $field-size-payload)
      (case "HTTP-response-incomplete")
      (case "HTTP-response-header-section-size" (option u32))
      (case "HTTP-response-header-size" $field-size-payload)
      (case "HTTP-response-body-size" (option u64))
      (case "HTTP-response-trailer-section-size" (option u32))
      (case "HTTP-response-trailer-size" $field-size-payload)
      (case "HTTP-response-transfer-coding" (option string))
      (case "HTTP-response-content-coding" (option string))
      (case "HTTP-response-timeout")
      (case "HTTP-upgrade-failed")
      (case "HTTP-protocol-error")
      (case "loop-detected")
      (case "configuration-error")
      (case "internal-error" (option string))))
    (export "error-code" (type (eq $error)))
    (type $scheme-cases (variant (case "HTTP") (case "HTTPS") (case "other" string)))
    (export "scheme" (type $scheme (eq $scheme-cases)))
    (export "[method]outgoing-request.scheme"
      (func (param "self" (borrow $outgoing-request)) (result (option $scheme))))
    (export "[method]outgoing-request.authority"
      (func (param "self" (borrow $outgoing-request)) (result (option string))))
  ))
  (alias export $types "outgoing-request" (type $outgoing-request))
  (alias export $types "request-options" (type $request-options))
  (alias export $types "future-incoming-response" (type $future-incoming-response))
  (alias export $types "error-code" (type $error-code))
  (alias export $types "scheme" (type $scheme))
  (import "wasi:http/outgoing-handler@0.2.12" (instance $handler
    (alias outer 1 $outgoing-request (type $req))
    (export "outgoing-request" (type $request (eq $req)))
    (alias outer 1 $request-options (type $opts))
    (export "request-options" (type $options (eq $opts)))
    (alias outer 1 $future-incoming-response (type $fut))
    (export "future-incoming-response" (type $future (eq $fut)))
    (alias outer 1 $error-code (type $err))
    (export "error-code" (type $error (eq $err)))
    (export "handle" (func
      (param "request" (own $request))
      (param "options" (option (own $options)))
      (result (result (own $future) (error $error)))))
  ))

  ;; Linear memory and an allocator for the values the host writes back (the scheme and
  ;; string, an error's strings). Every export resets the allocator first: nothing is
  ;; kept from one call to the next.
  (core module $Memory
    (memory (export "memory") 1)
    (global $next (export "next") (mut i32) (i32.const 1024))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $start i32)
      ;; round up to the requested alignment
      (local.set $start
        (i32.and
          (i32.add (global.get $next) (i32.sub (local.get 2) (i32.const 1)))
          (i32.xor (i32.sub (local.get 2) (i32.const 1)) (i32.const -1))))
      (global.set $next (i32.add (local.get $start) (local.get 3)))
      (block $fits
        (br_if $fits
          (i32.le_u (global.get $next) (i32.mul (memory.size) (i32.const 65536))))
        (if (i32.eq
              (memory.grow
                (i32.add
                  (i32.shr_u
                    (i32.sub (global.get $next) (i32.mul (memory.size) (i32.const 65536)))
                    (i32.const 16))
                  (i32.const 1)))
              (i32.const -1))
          (then unreachable)))
      (local.get $start)))
  (core instance $memory (instantiate $Memory))
  (alias core export $memory "memory" (core memory $mem))
  (alias core export $memory "realloc" (core func $realloc))

  (alias export $types "[method]outgoing-request.scheme" (func $scheme-of))
  (core func $scheme-lowered (canon lower (func $scheme-of) (memory $mem) (realloc $realloc)))
  (alias export $types "[method]outgoing-request.authority" (func $authority))
  (core func $authority-lowered (canon lower (func $authority) (memory $mem) (realloc $realloc)))
  (alias export $handler "handle" (func $handle))
  (core func $handle-lowered (canon lower (func $handle) (memory $mem) (realloc $realloc)))
  ;; A borrowed handle must be given back before the export that received it returns.
  (core func $end-borrow (canon resource.drop $outgoing-request))

  (core module $Gate
    (import "memory" "next" (global $next (mut i32)))
    (import "host" "scheme" (func $scheme (param i32 i32)))
    (import "host" "authority" (func $authority (param i32 i32)))
    (import "host" "handle" (func $handle (param i32 i32 i32 i32)))
    (import "host" "end-borrow" (func $end-borrow (param i32)))
    ;; Return areas: the host lowers results at these addresses, and the lifted exports
    ;; return the same addresses for the caller to read. `destination` returns the tuple
    ;; (option<scheme>, option<string>): the option<scheme> takes 16 bytes (4-aligned), so
    ;; the scheme lowered at 16 and the authority lowered at 32 lay out that tuple.
    (func (export "destination") (param $request i32) (result i32)
      (global.set $next (i32.const 1024))
      (call $scheme (local.get $request) (i32.const 16))
      (call $authority (local.get $request) (i32.const 32))
      (call $end-borrow (local.get $request))
      (i32.const 16))
    (func (export "handle") (param $request i32) (param $has-options i32) (param $options i32) (result i32)
      (global.set $next (i32.const 1024))
      (call $handle (local.get $request) (local.get $has-options) (local.get $options) (i32.const 128))
      (i32.const 128)))
  (core instance $gate (instantiate $Gate
    (with "memory" (instance $memory))
    (with "host" (instance
      (export "scheme" (func $scheme-lowered))
      (export "authority" (func $authority-lowered))
      (export "handle" (func $handle-lowered))
      (export "end-borrow" (func $end-borrow))))))

  (func (export "destination") (param "request" (borrow $outgoing-request))
    (result (tuple (option $scheme) (option string)))
    (canon lift (core func $gate "destination") (memory $mem)))
  (func (export "handle")
    (param "request" (own $outgoing-request))
    (param "options" (option (own $request-options)))
    (result (result (own $future-incoming-response) (error $error-code)))
    (canon lift (core func $gate "handle") (memory $mem)))
)
