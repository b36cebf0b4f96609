//! `go_struct!`: states a Go struct's fields once (Go name, Rust name, type) and
//! generates the Rust struct, its encoder and its decoder.
//!
//! The encoder writes a map with the keys sorted bytewise by Go name, as go-msgpack
//! does (the order is computed at compile time from the declaration, so the fields
//! are listed in Go's declaration order, which the array form needs). `omitempty`
//! fields are left out, and not counted, when empty. The decoder takes the map form
//! in any key order or the array form, skips unknown keys, and leaves missing fields
//! at their `Default` (Go's zero value).
//!
//! How one field is read and written is its type's [`GoField`] impl, or the
//! [`GoCodec`] named after `as` where one Rust type has two Go encodings (a Go `int`
//! that memberlist always writes with signed markers but Serf re-encodes in the
//! marker family it came in).

use std::borrow::Cow;

use super::error::Result;
use super::gostring::GoString;
use super::messages::{go_int, string, Bytes, GoInt, NodeState};
use super::msgpack::{Reader, Writer};

/// A Go field type: how go-msgpack writes it and what its decoder accepts. `ctx`
/// names the field in errors.
pub trait GoField<'a>: Sized {
    /// Writes the value as Go encodes it.
    fn write_field(&self, w: &mut Writer<'_>);
    /// Reads a value any Go version wrote.
    fn read_field(r: &mut Reader<'a>, ctx: &'static str) -> Result<Self>;
}

/// A field encoding chosen per field (`as Codec` in `go_struct!`) rather than by the
/// field's type.
pub trait GoCodec<'a, T> {
    /// Writes `v`.
    fn write(v: &T, w: &mut Writer<'_>);
    /// Reads a value.
    fn read(r: &mut Reader<'a>, ctx: &'static str) -> Result<T>;
}

/// The codec of a field with no `as`: its type's [`GoField`] impl.
pub struct Native;

impl<'a, T: GoField<'a>> GoCodec<'a, T> for Native {
    fn write(v: &T, w: &mut Writer<'_>) {
        v.write_field(w)
    }
    fn read(r: &mut Reader<'a>, ctx: &'static str) -> Result<T> {
        T::read_field(r, ctx)
    }
}

/// Go's emptiness test for an `omitempty` field.
pub trait OmitEmpty {
    /// Whether Go leaves the field off the wire.
    fn is_go_empty(&self) -> bool;
}

impl OmitEmpty for u16 {
    fn is_go_empty(&self) -> bool {
        *self == 0
    }
}

impl OmitEmpty for GoString<'_> {
    fn is_go_empty(&self) -> bool {
        self.is_empty()
    }
}

impl OmitEmpty for Bytes<'_> {
    fn is_go_empty(&self) -> bool {
        self.is_empty()
    }
}

/// Go's unsigned integers: unsigned markers out, any fitting integer in.
macro_rules! unsigned {
    ($($t:ty => $read:ident),*) => {$(
        impl GoField<'_> for $t {
            fn write_field(&self, w: &mut Writer<'_>) {
                w.uint(*self as u64)
            }
            fn read_field(r: &mut Reader<'_>, ctx: &'static str) -> Result<Self> {
                r.$read(ctx)
            }
        }
    )*};
}
unsigned!(u8 => u8, u16 => u16, u32 => u32);

impl GoField<'_> for bool {
    fn write_field(&self, w: &mut Writer<'_>) {
        w.bool(*self)
    }
    fn read_field(r: &mut Reader<'_>, ctx: &'static str) -> Result<Self> {
        r.bool(ctx)
    }
}

impl<'a> GoField<'a> for GoString<'a> {
    fn write_field(&self, w: &mut Writer<'_>) {
        w.raw(self.as_bytes())
    }
    fn read_field(r: &mut Reader<'a>, ctx: &'static str) -> Result<Self> {
        string(r, ctx)
    }
}

/// An `omitempty` `[]byte` (or a slice element): nil and empty are one value.
impl<'a> GoField<'a> for Bytes<'a> {
    fn write_field(&self, w: &mut Writer<'_>) {
        w.raw(self)
    }
    fn read_field(r: &mut Reader<'a>, ctx: &'static str) -> Result<Self> {
        Ok(r.bytes(ctx)?.unwrap_or_default())
    }
}

/// A `[]byte` without `omitempty`: `None` is Go's nil, kept apart from empty.
impl<'a> GoField<'a> for Option<Bytes<'a>> {
    fn write_field(&self, w: &mut Writer<'_>) {
        w.opt_raw(self.as_deref())
    }
    fn read_field(r: &mut Reader<'a>, ctx: &'static str) -> Result<Self> {
        r.bytes(ctx)
    }
}

/// A memberlist Go `int`: decoded with its marker family, always written with
/// go-msgpack v2's signed markers.
impl GoField<'_> for GoInt {
    fn write_field(&self, w: &mut Writer<'_>) {
        w.int(self.value)
    }
    fn read_field(r: &mut Reader<'_>, ctx: &'static str) -> Result<Self> {
        go_int(r, ctx)
    }
}

impl GoField<'_> for NodeState {
    fn write_field(&self, w: &mut Writer<'_>) {
        w.int(self.to_int())
    }
    fn read_field(r: &mut Reader<'_>, ctx: &'static str) -> Result<Self> {
        Ok(NodeState::from_int(r.int(ctx)?.0))
    }
}

/// A field value that can stop borrowing the buffer it was decoded from (for the
/// `into_owned` that `+ into_owned` asks `go_struct!` for).
pub trait IntoOwned {
    /// The same value, borrowing nothing.
    type Owned;
    /// Copies out whatever is borrowed.
    fn into_owned_field(self) -> Self::Owned;
}

/// Values that borrow nothing.
macro_rules! owned_already {
    ($($t:ty),*) => {$(
        impl IntoOwned for $t {
            type Owned = $t;
            fn into_owned_field(self) -> $t {
                self
            }
        }
    )*};
}
owned_already!(u8, u16, u32, bool, GoInt, NodeState);

impl IntoOwned for GoString<'_> {
    type Owned = GoString<'static>;
    fn into_owned_field(self) -> GoString<'static> {
        self.into_owned()
    }
}

impl IntoOwned for Bytes<'_> {
    type Owned = Bytes<'static>;
    fn into_owned_field(self) -> Bytes<'static> {
        Cow::Owned(self.into_owned())
    }
}

impl IntoOwned for Option<Bytes<'_>> {
    type Owned = Option<Bytes<'static>>;
    fn into_owned_field(self) -> Option<Bytes<'static>> {
        self.map(IntoOwned::into_owned_field)
    }
}

/// Whether Go name `a` sorts before `b` (bytewise, as go-msgpack sorts struct keys).
const fn before(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut i = 0;
    while i < a.len() && i < b.len() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
        i += 1;
    }
    a.len() < b.len()
}

/// The declaration indices of `names` in go-msgpack's key order.
pub const fn key_order<const N: usize>(names: [&str; N]) -> [usize; N] {
    let mut order = [0; N];
    let mut i = 0;
    while i < N {
        order[i] = i;
        i += 1;
    }
    // Insertion sort: N is a struct's field count.
    let mut i = 1;
    while i < N {
        let mut j = i;
        while j > 0 && before(names[order[j]], names[order[j - 1]]) {
            let t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
            j -= 1;
        }
        i += 1;
    }
    order
}

/// Declares a Go struct once and generates the Rust struct (every field `pub`), its
/// `write` (to a [`Writer`]) and `encode` (to a vector), its `read` and its
/// [`GoField`] impl (for nesting). Fields are listed in Go's declaration order:
///
/// ```text
/// go_struct! {
///     /// Doc comments and attributes pass through.
///     #[derive(Debug, Clone, PartialEq, Eq, Default)]
///     pub struct Ping<'a> in "ping" {
///         /// Field docs too.
///         "SeqNo" => seq_no: u32,
///         "SourceAddr" omitempty => source_addr: Bytes<'a>,
///         "Port" => port: GoInt as SomeCodec,
///     }
/// }
/// ```
///
/// `in "ping"` names the struct in decode errors and each field as `ping.SeqNo`;
/// `in "UDPAddr" / "DestAddr"` gives the fields another prefix; `in ctx` makes `read`
/// take the context as a parameter, for a struct Go uses under several names.
/// The struct must implement `Default` (its Go zero value).
macro_rules! go_struct {
    (
        $(#[$m:meta])*
        $vis:vis struct $name:ident $(<$lt:lifetime>)? in $sctx:literal $(/ $fctx:literal)?
            $(+ $extra:ident)? {
            $($fields:tt)*
        }
    ) => {
        $crate::wire::go_struct::go_struct!(@build [$(#[$m])*] $vis $name [$($lt)?]
            [lit $sctx [$($fctx)? $sctx]] [$($extra)?] { $($fields)* });
    };
    (
        $(#[$m:meta])*
        $vis:vis struct $name:ident $(<$lt:lifetime>)? in $ctx:ident $(+ $extra:ident)? {
            $($fields:tt)*
        }
    ) => {
        $crate::wire::go_struct::go_struct!(@build [$(#[$m])*] $vis $name [$($lt)?]
            [param $ctx] [$($extra)?] { $($fields)* });
    };
    (@build [$($m:tt)*] $vis:vis $name:ident [$($lt:lifetime)?] $mode:tt $extra:tt {
        $(
            $(#[$fm:meta])*
            $go:literal $($omit:ident)? => $f:ident : $ty:ty $(as $codec:ty)?
        ),* $(,)?
    }) => {
        $($m)*
        $vis struct $name $(<$lt>)? {
            $( $(#[$fm])* pub $f: $ty, )*
        }

        impl $(<$lt>)? $name $(<$lt>)? {
            /// Writes the msgpack body as Go encodes it: keys sorted by Go name,
            /// empty `omitempty` fields left out.
            pub fn write(&self, w: &mut $crate::wire::msgpack::Writer<'_>) {
                #[allow(unused_imports)]
                use $crate::wire::go_struct::{GoCodec, OmitEmpty};
                #[allow(non_camel_case_types)]
                enum Field { $($f),* }
                const ORDER: [usize; [$($go),*].len()] =
                    $crate::wire::go_struct::key_order([$($go),*]);
                let mut n = 0u8;
                $( n += $crate::wire::go_struct::go_struct!(@present self $f $($omit)?) as u8; )*
                w.map_header(n);
                for i in ORDER {
                    $(
                        if i == Field::$f as usize
                            && $crate::wire::go_struct::go_struct!(@present self $f $($omit)?)
                        {
                            w.key($go);
                            <$crate::wire::go_struct::go_struct!(@codec $($codec)?)
                                as GoCodec<'_, $ty>>::write(&self.$f, w);
                        }
                    )*
                }
            }

            /// Appends the msgpack body as Go encodes it (see `write`).
            pub fn encode(&self, out: &mut Vec<u8>) {
                self.write(&mut $crate::wire::msgpack::Writer::new(out))
            }

            $crate::wire::go_struct::go_struct!(@read_fn $mode [$($lt)?]
                { $( $go $f $ty [$($codec)?] ),* });
        }

        $crate::wire::go_struct::go_struct!(@field_impl $mode $name [$($lt)?]);
        $crate::wire::go_struct::go_struct!(@owned $extra $name { $($f),* });
    };
    (@owned [] $name:ident { $($f:ident),* }) => {};
    (@owned [into_owned] $name:ident { $($f:ident),* }) => {
        impl $name<'_> {
            /// Detaches the message from the buffer it was decoded from.
            pub fn into_owned(self) -> $name<'static> {
                $name { $($f: $crate::wire::go_struct::IntoOwned::into_owned_field(self.$f)),* }
            }
        }
    };
    (@present $s:ident $f:ident) => { true };
    (@present $s:ident $f:ident omitempty) => { !OmitEmpty::is_go_empty(&$s.$f) };
    (@codec) => { $crate::wire::go_struct::Native };
    (@codec $c:ty) => { $c };
    (@read_fn [lit $s:literal [$p:literal $($x:literal)?]] [$($lt:lifetime)?]
        { $( $go:literal $f:ident $ty:ty [$($c:ty)?] ),* }) => {
        /// Reads a msgpack body any Go version wrote: map (any key order) or array
        /// form; unknown keys are skipped, missing fields stay at Go's zero value.
        pub fn read(r: &mut $crate::wire::msgpack::Reader<$($lt)?>) -> $crate::wire::Result<Self> {
            $crate::wire::go_struct::go_struct!(@read_body r, $s,
                { $( $go $f $ty [$($c)?] concat!($p, ".", $go) ),* })
        }
    };
    (@read_fn [param $ctx:ident] [$($lt:lifetime)?]
        { $( $go:literal $f:ident $ty:ty [$($c:ty)?] ),* }) => {
        /// Reads a msgpack body any Go version wrote (see the struct's other `read`
        /// rules); `ctx` names the message in errors.
        pub fn read(
            r: &mut $crate::wire::msgpack::Reader<$($lt)?>,
            $ctx: &'static str,
        ) -> $crate::wire::Result<Self> {
            $crate::wire::go_struct::go_struct!(@read_body r, $ctx,
                { $( $go $f $ty [$($c)?] $ctx ),* })
        }
    };
    (@read_body $r:ident, $sctx:expr,
        { $( $go:literal $f:ident $ty:ty [$($c:ty)?] $fc:expr ),* }) => {{
        use $crate::wire::go_struct::GoCodec;
        let mut m = Self::default();
        const DECL: &[&str] = &[$($go),*];
        $crate::wire::messages::read_struct($r, $sctx, DECL, |k, r| {
            $(
                if k == $go.as_bytes() {
                    m.$f = <$crate::wire::go_struct::go_struct!(@codec $($c)?)
                        as GoCodec<'_, $ty>>::read(r, $fc)?;
                    return Ok(true);
                }
            )*
            Ok(false)
        })?;
        Ok(m)
    }};
    (@field_impl [lit $($x:tt)*] $name:ident [$lt:lifetime]) => {
        impl<$lt> $crate::wire::go_struct::GoField<$lt> for $name<$lt> {
            fn write_field(&self, w: &mut $crate::wire::msgpack::Writer<'_>) {
                self.write(w)
            }
            fn read_field(
                r: &mut $crate::wire::msgpack::Reader<$lt>,
                _ctx: &'static str,
            ) -> $crate::wire::Result<Self> {
                Self::read(r)
            }
        }
    };
    (@field_impl [lit $($x:tt)*] $name:ident []) => {
        impl $crate::wire::go_struct::GoField<'_> for $name {
            fn write_field(&self, w: &mut $crate::wire::msgpack::Writer<'_>) {
                self.write(w)
            }
            fn read_field(
                r: &mut $crate::wire::msgpack::Reader<'_>,
                _ctx: &'static str,
            ) -> $crate::wire::Result<Self> {
                Self::read(r)
            }
        }
    };
    // A struct read under a caller-given name nests nowhere by itself.
    (@field_impl [param $ctx:ident] $name:ident [$($lt:lifetime)?]) => {};
}
pub(crate) use go_struct;
