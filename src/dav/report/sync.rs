//! sync-collection (RFC 6578): what changed in a calendar since a token, from the change log.

use std::collections::HashMap;

use axum::response::Response;
use madang_dav::multistatus::{MultistatusWriter, Response as DavResponse};
use madang_dav::precondition::Precondition;
use madang_dav::report::{SyncCollection, SyncLevel};

use super::{Ctx, DavError, DavResult, ExpandBudget, object_response, path};
use crate::dav::{multistatus, props};

pub async fn sync_collection(ctx: &Ctx, target: &path::Target, request: SyncCollection) -> DavResult<Response> {
    let Some((kind, slug)) = target.collection() else { return Err(super::DavError::not_found()) };
    let cal = ctx.collection(kind, slug).await?;
    // Calendars hold no sub-collections, so infinite depth is the same as 1
    // (RFC 6578 §3.3).
    let _ = SyncLevel::Infinite;
    let since = if request.sync_token.is_empty() {
        None
    } else {
        Some(
            props::parse_sync_token(&cal, &request.sync_token)
                .ok_or(DavError::Precondition(Precondition::ValidSyncToken))?,
        )
    };
    // The server's own bound applies even when the client sets none; past it
    // the answer is truncated and says so, as a client limit would (§3.6).
    let server_limit = u32::try_from(ctx.config().max_results).unwrap_or(u32::MAX);
    let limit = Some(request.limit.map_or(server_limit, |l| l.min(server_limit)));
    let changes = ctx.state.store.changes_since(cal.id, since, limit).await?;

    let live: Vec<String> = changes.changes.iter().filter(|c| !c.deleted).map(|c| c.name.clone()).collect();
    let eval = ctx.eval_context(&cal, None);
    let mut out = MultistatusWriter::new();
    let gone = |name: &str| DavResponse::status(path::member_href(kind, ctx.me(), &cal.slug, name), 404);
    // Only fetch bodies when calendar-data was asked for: an initial sync of
    // a big calendar is mostly ETags.
    let names = request.props.props.names();
    let wants_data = request.props.calendar_data.is_some()
        || request.props.address_data.is_some()
        || names.contains(&props::CALENDAR_DATA)
        || names.contains(&props::ADDRESS_DATA);
    if wants_data {
        // By name, so that an initial sync of a large calendar is not quadratic.
        let objects: HashMap<String, _> =
            ctx.state.store.objects_named(cal.id, &live).await?.into_iter().map(|o| (o.name.clone(), o)).collect();
        let mut budget = ExpandBudget::new(ctx);
        for change in &changes.changes {
            crate::dav::take_turn().await;
            match objects.get(change.name.as_str()).filter(|_| !change.deleted) {
                Some(object) => {
                    out.push(&object_response(ctx, &cal, object, &request.props, None, &eval, &mut budget)?)
                }
                // Deleted, or deleted again between the two reads: a 404
                // member (RFC 6578 §3.5.2).
                None => out.push(&gone(&change.name)),
            }
        }
    } else {
        // The change log read already joined each member's metadata.
        let pctx = super::prop_context(ctx);
        for change in &changes.changes {
            crate::dav::take_turn().await;
            match change.meta() {
                Some(meta) => out.push(&props::respond(
                    path::member_href(kind, ctx.me(), &cal.slug, &meta.name),
                    &props::Resource::Object(&cal, &meta),
                    &request.props.props,
                    &pctx,
                    &[],
                    None,
                )),
                None => out.push(&gone(&change.name)),
            }
        }
    }
    if changes.truncated {
        // RFC 6578 §3.6: 507 on the request URI tells the client to ask
        // again with the new token.
        let mut truncated = DavResponse::status(path::collection_href(kind, ctx.me(), &cal.slug), 507);
        truncated.error = Some(Precondition::NumberOfMatchesWithinLimits);
        out.push(&truncated);
    }
    let token = props::sync_token(&crate::store::dav::Collection { revision: changes.revision, ..cal.clone() });
    Ok(multistatus(out.finish(Some(&token))))
}
