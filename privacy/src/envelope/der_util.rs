//! DER reading and writing of the envelope structures of `docs/envelope.md` §4.
//!
//! Reading walks the bytes with `der`'s `SliceReader` and checks each element's
//! tag and size as it goes, so every failure names the field that broke.

use der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef};
use der::{Decode, Encode, Header, Length, Reader, SliceReader, Tag, TagNumber, Tagged};

use super::{
    CMS_VERSION, ENVELOPE_LEN_MAX, Envelope, NONCE_LEN, OID_DATA, OID_ENVELOPED_DATA,
    OID_LT_ENVELOPE_PARAMS, OID_SM2_ENCRYPT, OID_SM2_ENCRYPT_GMSSL, OID_SM4_GCM, PROFILE_V1,
    ParseError, RECIPIENTS_MAX, Recipient, TxContext, WRAP_LEN_MAX,
};
use crate::keys::KeyId;
use crate::symmetric::GCM_TAG_LEN;

/// A context-specific tag `[number]`.
pub(super) fn context_tag(number: u8, constructed: bool) -> Tag {
    Tag::ContextSpecific {
        constructed,
        number: TagNumber(number.into()),
    }
}

/// `tag ‖ length ‖ content`.
pub(super) fn tlv(tag: Tag, content: &[u8]) -> der::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(content.len() + 6);
    Header::new(tag, Length::try_from(content.len())?).encode_to_vec(&mut out)?;
    out.extend_from_slice(content);
    Ok(out)
}

fn malformed(msg: impl Into<String>) -> ParseError {
    ParseError::Malformed(msg.into())
}

/// Reads the next element, requiring `tag`; `what` names it in errors.
fn next<'a>(r: &mut SliceReader<'a>, tag: Tag, what: &str) -> Result<&'a [u8], ParseError> {
    if r.is_finished() {
        return Err(malformed(format!("{what} is missing")));
    }
    let any: AnyRef<'a> = r.decode().map_err(|e| malformed(format!("{what}: {e}")))?;
    if any.tag() != tag {
        return Err(malformed(format!(
            "{what}: expected {tag}, found {}",
            any.tag()
        )));
    }
    Ok(any.value())
}

fn reader<'a>(bytes: &'a [u8], what: &str) -> Result<SliceReader<'a>, ParseError> {
    SliceReader::new(bytes).map_err(|e| malformed(format!("{what}: {e}")))
}

fn finish(r: &SliceReader<'_>, what: &str) -> Result<(), ParseError> {
    if r.is_finished() {
        Ok(())
    } else {
        Err(malformed(format!(
            "unexpected data after the last field of {what}"
        )))
    }
}

fn small_uint(content: &[u8], what: &str) -> Result<u8, ParseError> {
    match content {
        [v] if *v < 0x80 => Ok(*v),
        _ => Err(malformed(format!(
            "{what} is not a small non-negative INTEGER"
        ))),
    }
}

fn oid(content: &[u8], what: &str) -> Result<ObjectIdentifier, ParseError> {
    ObjectIdentifier::from_bytes(content).map_err(|e| malformed(format!("{what}: {e}")))
}

fn fixed<const N: usize>(content: &[u8], what: &str) -> Result<[u8; N], ParseError> {
    content
        .try_into()
        .map_err(|_| malformed(format!("{what} is {} bytes, expected {N}", content.len())))
}

/// Whether `bytes` starts like an envelope: a SEQUENCE header followed by
/// the complete `id-envelopedData` OID. What comes after is not looked at, so
/// a truncated or damaged envelope is still recognised as one.
fn starts_like_envelope(bytes: &[u8]) -> bool {
    let mut r = match SliceReader::new(bytes) {
        Ok(r) => r,
        Err(_) => return false,
    };
    let Ok(header) = Header::decode(&mut r) else {
        return false;
    };
    if header.tag() != Tag::Sequence {
        return false;
    }
    let Ok(oid_der) = OID_ENVELOPED_DATA.to_der() else {
        return false;
    };
    let Ok(header_len) = usize::try_from(r.position()) else {
        return false;
    };
    bytes
        .get(header_len..)
        .is_some_and(|rest| rest.starts_with(&oid_der))
}

pub(super) fn parse_envelope(bytes: &[u8]) -> Result<Envelope<'_>, ParseError> {
    // Step 1: is it an envelope at all? Anything that does not start with a
    // SEQUENCE and id-envelopedData is a public payload.
    if !starts_like_envelope(bytes) {
        return Err(ParseError::NotEnvelope);
    }
    // From here on it claims to be an envelope: every failure is `malformed`.
    if bytes.len() > ENVELOPE_LEN_MAX {
        return Err(malformed(format!(
            "envelope is {} bytes, more than the limit of {ENVELOPE_LEN_MAX}",
            bytes.len()
        )));
    }
    let outer: AnyRef<'_> = AnyRef::from_der(bytes)
        .map_err(|e| malformed(format!("ContentInfo (truncated or trailing data?): {e}")))?;
    let mut ci = reader(outer.value(), "ContentInfo")?;
    next(&mut ci, Tag::ObjectIdentifier, "ContentInfo.contentType")?;
    let explicit = next(&mut ci, context_tag(0, true), "ContentInfo.content [0]")?;
    finish(&ci, "ContentInfo")?;
    let mut wrapper = reader(explicit, "ContentInfo.content")?;
    let ed = next(&mut wrapper, Tag::Sequence, "EnvelopedData")?;
    finish(&wrapper, "ContentInfo.content [0]")?;

    let mut ed = reader(ed, "EnvelopedData")?;
    let version = small_uint(
        next(&mut ed, Tag::Integer, "EnvelopedData.version")?,
        "EnvelopedData.version",
    )?;
    if version != CMS_VERSION {
        return Err(malformed(format!(
            "EnvelopedData.version is {version}, expected {CMS_VERSION}"
        )));
    }
    let recipients = parse_recipients(next(&mut ed, Tag::Set, "recipientInfos")?)?;
    let (nonce, ciphertext) = parse_content(next(&mut ed, Tag::Sequence, "encryptedContentInfo")?)?;
    let attrs = next(&mut ed, context_tag(1, true), "unprotectedAttrs [1]")?;
    finish(&ed, "EnvelopedData")?;
    let (profile, context_digest, key_commitment) = parse_attrs(attrs)?;
    Ok(Envelope {
        recipients,
        nonce,
        ciphertext,
        profile,
        context_digest,
        key_commitment,
    })
}

fn parse_recipients(set: &[u8]) -> Result<Vec<Recipient<'_>>, ParseError> {
    let mut r = reader(set, "recipientInfos")?;
    let mut out: Vec<Recipient<'_>> = Vec::new();
    while !r.is_finished() {
        let n = out.len() + 1;
        if n > RECIPIENTS_MAX {
            return Err(malformed(format!("more than {RECIPIENTS_MAX} recipients")));
        }
        let what = format!("RecipientInfo #{n}");
        let mut ri = reader(next(&mut r, Tag::Sequence, &what)?, &what)?;
        let version = small_uint(
            next(&mut ri, Tag::Integer, &format!("{what}.version"))?,
            &format!("{what}.version"),
        )?;
        if version != CMS_VERSION {
            return Err(malformed(format!(
                "{what}.version is {version}, expected {CMS_VERSION}"
            )));
        }
        let rid = KeyId(fixed(
            next(&mut ri, context_tag(0, false), &format!("{what}.rid [0]"))?,
            &format!("{what}.rid"),
        )?);
        let mut alg = reader(
            next(
                &mut ri,
                Tag::Sequence,
                &format!("{what}.keyEncryptionAlgorithm"),
            )?,
            &what,
        )?;
        let algorithm = oid(
            next(
                &mut alg,
                Tag::ObjectIdentifier,
                &format!("{what}.keyEncryptionAlgorithm"),
            )?,
            &what,
        )?;
        if algorithm != OID_SM2_ENCRYPT && algorithm != OID_SM2_ENCRYPT_GMSSL {
            return Err(malformed(format!(
                "{what}.keyEncryptionAlgorithm {algorithm} is not sm2encrypt"
            )));
        }
        // No parameters: the RecipientInfo must re-encode to the same bytes,
        // because the AAD covers it.
        finish(&alg, &format!("{what}.keyEncryptionAlgorithm"))?;
        let wrap = next(&mut ri, Tag::OctetString, &format!("{what}.encryptedKey"))?;
        if wrap.is_empty() || wrap.len() > WRAP_LEN_MAX {
            return Err(malformed(format!(
                "{what}.encryptedKey is {} bytes, expected 1 to {WRAP_LEN_MAX}",
                wrap.len()
            )));
        }
        finish(&ri, &what)?;
        if out.iter().any(|o| o.rid == rid) {
            return Err(malformed(format!("{what} repeats recipient {rid}")));
        }
        out.push(Recipient {
            rid,
            algorithm,
            wrap,
        });
    }
    if out.is_empty() {
        return Err(malformed("recipientInfos is empty"));
    }
    Ok(out)
}

fn parse_content(eci: &[u8]) -> Result<([u8; NONCE_LEN], &[u8]), ParseError> {
    let what = "encryptedContentInfo";
    let mut r = reader(eci, what)?;
    let ct = oid(
        next(
            &mut r,
            Tag::ObjectIdentifier,
            "encryptedContentInfo.contentType",
        )?,
        what,
    )?;
    if ct != OID_DATA {
        return Err(malformed(format!(
            "encryptedContentInfo.contentType {ct} is not id-data"
        )));
    }
    let mut alg = reader(
        next(&mut r, Tag::Sequence, "contentEncryptionAlgorithm")?,
        what,
    )?;
    let alg_oid = oid(
        next(
            &mut alg,
            Tag::ObjectIdentifier,
            "contentEncryptionAlgorithm",
        )?,
        what,
    )?;
    if alg_oid != OID_SM4_GCM {
        return Err(malformed(format!(
            "contentEncryptionAlgorithm {alg_oid} is not sm4-gcm"
        )));
    }
    let mut params = reader(next(&mut alg, Tag::Sequence, "GCMParameters")?, what)?;
    finish(&alg, "contentEncryptionAlgorithm")?;
    let nonce = fixed(
        next(&mut params, Tag::OctetString, "GCMParameters.nonce")?,
        "GCMParameters.nonce",
    )?;
    let icv = small_uint(
        next(&mut params, Tag::Integer, "GCMParameters.icvLen")?,
        "GCMParameters.icvLen",
    )?;
    if usize::from(icv) != GCM_TAG_LEN {
        return Err(malformed(format!(
            "GCMParameters.icvLen is {icv}, expected {GCM_TAG_LEN}"
        )));
    }
    finish(&params, "GCMParameters")?;
    let ciphertext = next(&mut r, context_tag(0, false), "encryptedContent [0]")?;
    if ciphertext.len() < GCM_TAG_LEN {
        return Err(malformed(format!(
            "encryptedContent is {} bytes, shorter than the tag",
            ciphertext.len()
        )));
    }
    if ciphertext.len() - GCM_TAG_LEN > super::PAYLOAD_LEN_MAX {
        return Err(malformed(
            "encryptedContent is larger than the payload limit",
        ));
    }
    finish(&r, what)?;
    Ok((nonce, ciphertext))
}

fn parse_attrs(attrs: &[u8]) -> Result<(u8, [u8; 32], [u8; 32]), ParseError> {
    let mut r = reader(attrs, "unprotectedAttrs")?;
    let mut found = None;
    while !r.is_finished() {
        let mut attr = reader(next(&mut r, Tag::Sequence, "Attribute")?, "Attribute")?;
        let attr_type = next(&mut attr, Tag::ObjectIdentifier, "Attribute.attrType")?;
        let values = next(&mut attr, Tag::Set, "Attribute.attrValues")?;
        finish(&attr, "Attribute")?;
        if attr_type != OID_LT_ENVELOPE_PARAMS {
            // Profile 1 carries EnvelopeParams and nothing else (spec §4):
            // an unauthenticated extra attribute would be a byte that can
            // change unnoticed.
            return Err(malformed(
                "unprotectedAttrs holds an attribute other than EnvelopeParams",
            ));
        }
        if found.is_some() {
            return Err(malformed("EnvelopeParams appears twice"));
        }
        let mut values = reader(values, "EnvelopeParams attrValues")?;
        let mut p = reader(
            next(&mut values, Tag::Sequence, "EnvelopeParams")?,
            "EnvelopeParams",
        )?;
        finish(&values, "EnvelopeParams attrValues")?;
        let profile = small_uint(
            next(&mut p, Tag::Integer, "EnvelopeParams.profile")?,
            "EnvelopeParams.profile",
        )?;
        if profile != PROFILE_V1 {
            return Err(malformed(format!(
                "envelope profile {profile} is not supported (this reader knows profile {PROFILE_V1})"
            )));
        }
        let context_digest = fixed(
            next(&mut p, Tag::OctetString, "EnvelopeParams.contextDigest")?,
            "EnvelopeParams.contextDigest",
        )?;
        let key_commitment = fixed(
            next(&mut p, Tag::OctetString, "EnvelopeParams.keyCommitment")?,
            "EnvelopeParams.keyCommitment",
        )?;
        finish(&p, "EnvelopeParams")?;
        found = Some((profile, context_digest, key_commitment));
    }
    found.ok_or_else(|| malformed("unprotectedAttrs has no EnvelopeParams"))
}

fn uint(v: u8) -> der::Result<Vec<u8>> {
    let mut out = Vec::new();
    der::asn1::UintRef::new(&[v])?.encode_to_vec(&mut out)?;
    Ok(out)
}

fn octets(v: &[u8]) -> der::Result<Vec<u8>> {
    let mut out = Vec::new();
    OctetStringRef::new(v)?.encode_to_vec(&mut out)?;
    Ok(out)
}

fn oid_der(oid: &ObjectIdentifier) -> der::Result<Vec<u8>> {
    oid.to_der()
}

pub(super) fn encode_aad(
    ctx: &TxContext,
    key_commitment: &[u8; 32],
    recipients: &[Recipient<'_>],
) -> Vec<u8> {
    let build = || -> der::Result<Vec<u8>> {
        let mut list = Vec::new();
        for r in recipients {
            list.extend(recipient_info_der(r)?);
        }
        let mut body = uint(PROFILE_V1)?;
        body.extend(ctx.to_der());
        body.extend(octets(key_commitment)?);
        body.extend(tlv(Tag::Sequence, &list)?);
        tlv(Tag::Sequence, &body)
    };
    // Every length is bounded by the spec's limits, so this cannot fail.
    build().unwrap_or_default()
}

/// `DER(RecipientInfo)`.
pub(super) fn recipient_info_der(r: &Recipient<'_>) -> der::Result<Vec<u8>> {
    let mut body = uint(CMS_VERSION)?;
    body.extend(tlv(context_tag(0, false), &r.rid.0)?);
    body.extend(tlv(Tag::Sequence, &oid_der(&r.algorithm)?)?);
    body.extend(octets(r.wrap)?);
    tlv(Tag::Sequence, &body)
}

pub(super) fn encode_envelope(env: &Envelope<'_>) -> der::Result<Vec<u8>> {
    // Written in the order of `env.recipients`, which is also the AAD's
    // order; `seal` puts them in DER SET OF order (sorted encodings) first.
    let mut set = Vec::new();
    for r in &env.recipients {
        set.extend(recipient_info_der(r)?);
    }

    let mut gcm = octets(&env.nonce)?;
    gcm.extend(uint(GCM_TAG_LEN as u8)?);
    let mut alg = oid_der(&OID_SM4_GCM)?;
    alg.extend(tlv(Tag::Sequence, &gcm)?);
    let mut eci = oid_der(&OID_DATA)?;
    eci.extend(tlv(Tag::Sequence, &alg)?);
    eci.extend(tlv(context_tag(0, false), env.ciphertext)?);

    let mut params = uint(env.profile)?;
    params.extend(octets(&env.context_digest)?);
    params.extend(octets(&env.key_commitment)?);
    let mut attr = tlv(Tag::ObjectIdentifier, OID_LT_ENVELOPE_PARAMS)?;
    attr.extend(tlv(Tag::Set, &tlv(Tag::Sequence, &params)?)?);
    let attrs = tlv(Tag::Sequence, &attr)?;

    let mut ed = uint(CMS_VERSION)?;
    ed.extend(tlv(Tag::Set, &set)?);
    ed.extend(tlv(Tag::Sequence, &eci)?);
    ed.extend(tlv(context_tag(1, true), &attrs)?);
    let ed = tlv(Tag::Sequence, &ed)?;

    let mut ci = oid_der(&OID_ENVELOPED_DATA)?;
    ci.extend(tlv(context_tag(0, true), &ed)?);
    tlv(Tag::Sequence, &ci)
}
