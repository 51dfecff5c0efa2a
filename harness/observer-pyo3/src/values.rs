//! Value summaries (the portable observer's "Summaries of values (V) and exceptions (EXC)"):
//! a Python object as the protocol's `Value`, with ids for what the case holds.

use super::*;

/// The object identities of one snapshot (or one outcome), and its lazily evaluated refs.
pub(crate) struct Ids<'a, 'py> {
    pub(crate) py: Python<'py>,
    pub(crate) shared: &'a Shared,
    /// The addresses of the objects given ids, in id order (searched linearly while short).
    pub(crate) addrs: Vec<usize>,
    /// The same, indexed, once there are many.
    pub(crate) map: Option<AddrMap<usize, u32>>,
    /// Keeps every object given an id alive, so that no address is reused within the table.
    pub(crate) keep: Vec<Bound<'py, PyAny>>,
    pub(crate) refs_of: Vec<Vec<u32>>,
    /// The values of the case's reference expressions, evaluated once for this table.
    pub(crate) ref_values: Vec<Option<Bound<'py, PyAny>>>,
}

impl<'a, 'py> Ids<'a, 'py> {
    /// A table for one snapshot or outcome; with a case, its refs are evaluated now.
    pub(crate) fn new(py: Python<'py>, shared: &'a Shared, ctx: Option<&'a CaseCtx>) -> Self {
        let ref_values = match ctx {
            Some(ctx) if !ctx.refs.is_empty() => {
                let eval = shared.eval.bind(py);
                let ns = ctx.ns.bind(py);
                ctx.refs
                    .iter()
                    .map(|code| code.as_ref().and_then(|c| eval.call1((c, ns)).ok()))
                    .collect()
            }
            _ => Vec::new(),
        };
        Ids {
            py,
            shared,
            addrs: Vec::new(),
            map: None,
            keep: Vec::new(),
            refs_of: Vec::new(),
            ref_values,
        }
    }

    pub(crate) fn exc(&mut self, err: &PyErr) -> Exc {
        let py = self.py;
        let e = err.value(py).clone().into_any();
        let type_name = self.shared.type_name(&e);
        let msg = exc_msg(&e, &type_name);
        let value = if err.is_instance_of::<PyStopIteration>(py) {
            Some(Box::new(match e.getattr(intern!(py, "value")) {
                Ok(v) => self.summarize(&v, 1),
                Err(_) => Value::None,
            }))
        } else {
            None
        };
        Exc {
            type_name,
            msg,
            value,
        }
    }

    pub(crate) fn summarize(&mut self, x: &Bound<'py, PyAny>, depth: u32) -> Value {
        if x.is_none() {
            return Value::None;
        }
        if let Ok(b) = x.cast::<PyBool>() {
            return Value::Bool(b.is_true());
        }
        if x.is_instance_of::<PyInt>() {
            if let Ok(i) = x.extract::<i64>() {
                return Value::Int(i);
            }
            return match self.decimal(x) {
                Ok(d) => Value::BigInt(d),
                Err(_) => self.obj(x),
            };
        }
        if let Ok(f) = x.cast::<PyFloat>() {
            // A NaN or an infinity goes out as serde_json writes it (`null`), like the
            // portable observer does.
            return Value::Float(f.value());
        }
        if let Ok(s) = x.cast::<PyString>() {
            return Value::Str(text(s));
        }
        // Containers: exactly list, tuple and dict (a subclass is an object).
        if let Ok(t) = x.cast_exact::<PyTuple>() {
            if depth <= MAX_DEPTH && t.len() <= MAX_ITEMS {
                return self.seq(t, depth);
            }
        } else if let Ok(l) = x.cast_exact::<PyList>() {
            if depth <= MAX_DEPTH && l.len() <= MAX_ITEMS {
                let t = l.to_tuple();
                return self.seq(&t, depth);
            }
        } else if let Ok(d) = x.cast_exact::<PyDict>() {
            if depth <= MAX_DEPTH && d.len() <= MAX_ITEMS {
                return self.dict(d, depth);
            }
        } else if let Some(proxy) = &self.shared.frame_locals_proxy {
            // PEP 667's FrameLocalsProxy is summarised as the dict it stands for (its
            // values are compared, not its type), within the limits of a dict.
            if x.get_type().is(proxy.bind(self.py)) && depth <= MAX_DEPTH {
                if let Ok(copy) = self.shared.dict.bind(self.py).call1((x,)) {
                    if let Ok(d) = copy.cast_exact::<PyDict>() {
                        if d.len() <= MAX_ITEMS {
                            return self.dict(d, depth);
                        }
                    }
                }
            }
        }
        self.obj(x)
    }

    /// The decimal digits of an int, also past CPython's `int_max_str_digits` limit.
    pub(crate) fn decimal(&self, x: &Bound<'py, PyAny>) -> PyResult<String> {
        let py = self.py;
        let int_repr = self.shared.int_repr.bind(py);
        if let Ok(s) = int_repr.call1((x,)) {
            return Ok(text(s.cast::<PyString>()?));
        }
        const CHUNK_DIGITS: usize = 1000;
        let chunk = 10i64.into_pyobject(py)?.pow(CHUNK_DIGITS, py.None())?;
        let mut n = x.abs()?;
        let mut parts = Vec::new();
        while n.is_truthy()? {
            let qr = n.divmod(&chunk)?;
            parts.push(text(
                int_repr.call1((qr.get_item(1)?,))?.cast::<PyString>()?,
            ));
            n = qr.get_item(0)?;
        }
        let mut out = String::new();
        if x.lt(0)? {
            out.push('-');
        }
        if let Some(head) = parts.pop() {
            out.push_str(&head);
        }
        for part in parts.iter().rev() {
            out.push_str(&"0".repeat(CHUNK_DIGITS - part.len()));
            out.push_str(part);
        }
        Ok(out)
    }

    pub(crate) fn seq(&mut self, t: &Bound<'py, PyTuple>, depth: u32) -> Value {
        let mut items = Vec::with_capacity(t.len());
        for item in t.iter() {
            items.push(self.summarize(&item, depth + 1));
        }
        Value::Seq(items)
    }

    pub(crate) fn dict(&mut self, d: &Bound<'py, PyDict>, depth: u32) -> Value {
        // A copy of the items: summarising runs no code that could change the dict, but the
        // list keeps every key and value alive for the snapshot anyway.
        let items = d.items().to_tuple();
        let mut pairs = Vec::with_capacity(items.len());
        for pair in items.iter() {
            let (k, v) = match pair
                .cast::<PyTuple>()
                .map(|p| (p.get_item(0), p.get_item(1)))
            {
                Ok((Ok(k), Ok(v))) => (k, v),
                _ => continue,
            };
            let k = self.summarize(&k, depth + 1);
            let v = self.summarize(&v, depth + 1);
            pairs.push((k, v));
        }
        Value::Dict(pairs)
    }

    pub(crate) fn obj(&mut self, x: &Bound<'py, PyAny>) -> Value {
        let ptr = x.as_ptr() as usize;
        let found = match &self.map {
            Some(map) => map.get(&ptr).copied(),
            None => self.addrs.iter().position(|&a| a == ptr).map(|i| i as u32),
        };
        let id = match found {
            Some(id) => id,
            None => {
                let id = self.keep.len() as u32;
                self.addrs.push(ptr);
                if let Some(map) = &mut self.map {
                    map.insert(ptr, id);
                } else if self.addrs.len() > 24 {
                    self.map = Some(
                        self.addrs
                            .iter()
                            .enumerate()
                            .map(|(i, &a)| (a, i as u32))
                            .collect(),
                    );
                }
                self.keep.push(x.clone());
                let refs = self.refs_matching(x);
                self.refs_of.push(refs);
                id
            }
        };
        Value::Obj(ObjRef {
            type_name: self.shared.type_name(x),
            id,
            refs: self.refs_of[id as usize].clone(),
        })
    }

    pub(crate) fn refs_matching(&self, x: &Bound<'py, PyAny>) -> Vec<u32> {
        self.ref_values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.as_ref().is_some_and(|v| v.is(x)))
            .map(|(i, _)| i as u32)
            .collect()
    }
}
