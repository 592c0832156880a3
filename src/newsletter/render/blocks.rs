//! The HTML and plain text of each block, and the document's head and legal footer, in the template's charter.

use super::*;

pub(super) fn html_head(c: &mut Ctx, subject: &[Piece], preheader: &[Piece], sender: &Sender) {
    let p = &c.pal;
    let (font, bg, text, primary, on_primary) = (p.font, p.background, p.text, p.primary, p.on_primary);
    c.html.lit(
        "<!DOCTYPE html>\n<html lang=\"fr\" dir=\"ltr\" xmlns=\"http://www.w3.org/1999/xhtml\">\n<head>\n\
         <meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\">\n\
         <meta name=\"x-apple-disable-message-reformatting\">\n\
         <meta name=\"format-detection\" content=\"telephone=no, date=no, address=no, email=no, url=no\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n\
         <meta name=\"supported-color-schemes\" content=\"light dark\">\n<title>",
    );
    c.html_pieces(subject, false);
    c.html.lit("</title>\n<style>\n");
    c.html.lit(
        ":root{color-scheme:light dark;supported-color-schemes:light dark}\n\
         @media screen and (max-width:620px){\
         .nl-outer{padding:0!important}\
         .nl-pad{padding-left:16px!important;padding-right:16px!important}\
         .nl-h1{font-size:24px!important}\
         .nl-img{width:100%!important}}\n\
         @media (prefers-color-scheme:dark){\
         .nl-bg{background-color:#121417!important}\
         .nl-main{background-color:#1d2025!important}\
         .nl-card{background-color:#2a2e35!important}\
         .nl-text,.nl-text p,.nl-text li,.nl-text h1,.nl-text h2,.nl-text h3,.nl-text blockquote,.nl-text span\
         {color:#e8eaed!important}\
         .nl-text a,.nl-link{color:#9cc3ff!important}\
         .nl-img{color:#e8eaed!important}\
         .nl-muted,.nl-muted p,.nl-muted a{color:#b3b8c0!important}}\n\
         [data-ogsc] .nl-text,[data-ogsc] .nl-text p,[data-ogsc] .nl-text li,[data-ogsc] .nl-text h1,\
         [data-ogsc] .nl-text h2,[data-ogsc] .nl-text h3{color:#e8eaed!important}\n\
         [data-ogsc] .nl-text a,[data-ogsc] .nl-link{color:#9cc3ff!important}\n",
    );
    put!(
        c.html,
        "</style>\n</head>\n<body class=\"nl-bg\" style=\"margin:0;padding:0;width:100%;background-color:{bg};\
         -webkit-text-size-adjust:100%;-ms-text-size-adjust:100%\">\n"
    );
    if !preheader.is_empty() {
        c.html.lit(
            "<div style=\"display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;opacity:0;\
             overflow:hidden;mso-hide:all;color:transparent\">",
        );
        c.html_pieces(preheader, false);
        c.html.lit(&"&#847;&zwnj;&nbsp;".repeat(60));
        c.html.lit("</div>\n");
    }
    put!(
        c.html,
        "<table role=\"presentation\" class=\"nl-bg\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" \
         bgcolor=\"{bg}\" style=\"width:100%;border-collapse:collapse;background-color:{bg}\">\n\
         <tr><td class=\"nl-outer\" align=\"center\" valign=\"top\" style=\"padding:24px 8px\">\n\
         <!--[if mso]><table role=\"presentation\" width=\"600\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" \
         align=\"center\"><tr><td><![endif]-->\n\
         <table role=\"presentation\" class=\"nl-main\" width=\"600\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" \
         align=\"center\" bgcolor=\"{SURFACE}\" style=\"width:100%;max-width:600px;margin:0 auto;\
         border-collapse:collapse;background-color:{SURFACE};font-family:{font};color:{text}\">\n\
         <tr><td class=\"nl-pad\" align=\"center\" bgcolor=\"{primary}\" style=\"padding:24px 32px;\
         background-color:{primary}\"><img src=\"{logo}\" alt=\"{org}\" width=\"160\" style=\"display:block;\
         width:160px;max-width:100%;height:auto;border:0;outline:none;text-decoration:none;margin:0 auto;\
         font-family:{font};font-size:20px;font-weight:bold;line-height:1.3;color:{on_primary}\"></td></tr>\n",
        logo = escape(sender.logo_url.trim()),
        org = escape(sender.organisation.trim()),
    );
}

pub(super) fn compile_block(c: &mut Ctx, block: &Block, parse: &dyn Fn(&str) -> Vec<Piece>) {
    let (font, text, primary, accent, on_accent, card) =
        (c.pal.font, c.pal.text, c.pal.primary, c.pal.accent, c.pal.on_accent, c.pal.card);
    match block {
        Block::Title { text: title } => {
            let pieces = parse(title.trim());
            c.titles += 1;
            let (tag, size, class) = if c.titles == 1 { ("h1", 28, " nl-h1") } else { ("h2", 24, "") };
            put!(
                c.html,
                "<tr><td class=\"nl-pad nl-text\" style=\"padding:28px 32px 8px 32px\"><{tag} class=\"nl-title{class}\" \
                 style=\"margin:0;font-family:{font};font-size:{size}px;line-height:1.25;font-weight:bold;\
                 color:{primary}\">"
            );
            c.html_pieces(&pieces, false);
            put!(c.html, "</{tag}></td></tr>\n");
            c.text.para(&pieces_to_segs(&pieces, false), "", "", true, &c.links);
        }
        Block::Text { markdown } => {
            put!(
                c.html,
                "<tr><td class=\"nl-pad nl-text\" style=\"padding:8px 32px;font-family:{font};font-size:16px;\
                 line-height:1.6;color:{text}\">"
            );
            compile_markdown(c, markdown);
            c.html.lit("</td></tr>\n");
        }
        Block::Image { src, alt, href } => {
            c.stats.images += 1;
            let target = href.as_deref().filter(|h| !h.trim().is_empty()).and_then(|h| c.target(h));
            put!(c.html, "<tr><td class=\"nl-pad\" align=\"center\" style=\"padding:8px 32px\">");
            if let Some(t) = &target {
                c.html.lit("<a href=\"");
                c.href(t);
                c.html.lit("\" target=\"_blank\" rel=\"noopener\" style=\"text-decoration:none\">");
            }
            put!(
                c.html,
                "<img class=\"nl-img\" src=\"{src}\" alt=\"{alt}\" width=\"{CONTENT_WIDTH}\" \
                 style=\"display:block;max-width:100%;height:auto;border:0;outline:none;text-decoration:none;\
                 margin:0 auto;font-family:{font};font-size:14px;color:{text}\">",
                src = escape(src.trim()),
                alt = escape(alt.trim()),
            );
            if target.is_some() {
                c.html.lit("</a>");
            }
            c.html.lit("</td></tr>\n");
            let mut segs = vec![Seg::Word(format!("[Image : {}]", alt.trim()))];
            if let Some(t) = &target {
                segs.push(Seg::Word("(".into()));
                segs.push(Seg::Glue);
                segs.push(Ctx::text_link(t));
                segs.push(Seg::Glue);
                segs.push(Seg::Word(")".into()));
            }
            let counting = std::mem::replace(&mut c.text.counting, false);
            c.text.para(&segs, "", "", false, &c.links);
            c.text.counting = counting;
        }
        Block::Button { label, href } => {
            let pieces = parse(label.trim());
            let Some(target) = c.target(href) else { return };
            note_mismatch(&mut c.stats, &plain(&pieces), href);
            put!(
                c.html,
                "<tr><td class=\"nl-pad\" align=\"center\" style=\"padding:16px 32px\">\
                 <table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" align=\"center\" \
                 style=\"margin:0 auto;border-collapse:separate\"><tr><td align=\"center\" bgcolor=\"{accent}\" \
                 style=\"border-radius:6px;background-color:{accent}\"><a href=\""
            );
            c.href(&target);
            put!(
                c.html,
                "\" target=\"_blank\" rel=\"noopener\" style=\"display:inline-block;padding:14px 28px;\
                 font-family:{font};font-size:17px;font-weight:bold;line-height:1.2;color:{on_accent};\
                 text-decoration:none;border-radius:6px;border:1px solid {accent};background-color:{accent}\">"
            );
            c.html_pieces(&pieces, false);
            c.html.lit("</a></td></tr></table></td></tr>\n");
            let mut segs = pieces_to_segs(&pieces, false);
            segs.push(Seg::Word(":".into()));
            segs.push(Ctx::text_link(&target));
            c.text.para(&segs, "", "", false, &c.links);
        }
        Block::Quote { text: quote, author } => {
            let pieces = parse(quote.trim());
            let author = author.as_deref().map(str::trim).filter(|a| !a.is_empty()).map(parse);
            put!(
                c.html,
                "<tr><td class=\"nl-pad\" style=\"padding:12px 32px\"><table role=\"presentation\" width=\"100%\" \
                 cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"width:100%;border-collapse:collapse\">\
                 <tr><td class=\"nl-text\" style=\"border-left:4px solid {accent};padding:8px 0 8px 20px;\
                 font-family:{font};font-size:19px;line-height:1.5;font-style:italic;color:{text}\">«&nbsp;"
            );
            c.html_pieces(&pieces, true);
            c.html.lit("&nbsp;»");
            if let Some(a) = &author {
                put!(
                    c.html,
                    "<br><span style=\"display:inline-block;margin-top:8px;font-style:normal;font-size:15px;\
                     font-weight:bold;color:{text}\">— "
                );
                c.html_pieces(a, false);
                c.html.lit("</span>");
            }
            c.html.lit("</td></tr></table></td></tr>\n");
            let mut segs = vec![Seg::Word("«".into())];
            segs.extend(pieces_to_segs(&pieces, true));
            segs.push(Seg::Word("»".into()));
            c.text.para(&segs, "", "", false, &c.links);
            if let Some(a) = &author {
                let mut segs = vec![Seg::Word("—".into())];
                segs.extend(pieces_to_segs(a, false));
                c.text.need_blank = false;
                c.text.para(&segs, "", "", false, &c.links);
            }
        }
        Block::Card { kind, title, when, place, href } => {
            let (label, cta) = match kind {
                CardKind::Event => ("Événement", "Je participe"),
                CardKind::Mission => ("Mission", "Je m'engage"),
            };
            let title = parse(title.trim());
            let when = parse(when.trim());
            let place = parse(place.trim());
            let Some(target) = c.target(href) else { return };
            put!(
                c.html,
                "<tr><td class=\"nl-pad\" style=\"padding:12px 32px\"><table role=\"presentation\" class=\"nl-card\" \
                 width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" bgcolor=\"{card}\" \
                 style=\"width:100%;border-collapse:separate;background-color:{card};border-left:6px solid {primary};\
                 border-radius:8px\"><tr><td class=\"nl-text\" style=\"padding:18px 20px;font-family:{font};\
                 color:{text}\"><p style=\"margin:0 0 6px 0;font-family:{font};font-size:12px;line-height:1.4;\
                 letter-spacing:1px;text-transform:uppercase;font-weight:bold;color:{primary}\">{label}</p>\
                 <p style=\"margin:0 0 8px 0;font-family:{font};font-size:20px;line-height:1.3;font-weight:bold;\
                 color:{text}\"><a href=\""
            );
            c.href(&target);
            put!(c.html, "\" target=\"_blank\" rel=\"noopener\" style=\"color:{text};text-decoration:none\">");
            c.html_pieces(&title, false);
            c.html.lit("</a></p>");
            for (name, value) in [("Date", &when), ("Lieu", &place)] {
                if value.is_empty() {
                    continue;
                }
                put!(
                    c.html,
                    "<p style=\"margin:0 0 4px 0;font-family:{font};font-size:15px;line-height:1.5;color:{text}\">\
                     <strong style=\"font-weight:bold\">{name}&nbsp;:</strong> "
                );
                c.html_pieces(value, false);
                c.html.lit("</p>");
            }
            put!(c.html, "<p style=\"margin:12px 0 0 0;font-family:{font};font-size:16px;line-height:1.4\"><a href=\"");
            c.href(&target);
            put!(
                c.html,
                "\" target=\"_blank\" rel=\"noopener\" class=\"nl-link\" style=\"color:{primary};font-weight:bold;\
                 text-decoration:underline\">{cta}&nbsp;→</a></p></td></tr></table></td></tr>\n"
            );
            let mut segs = vec![Seg::Word(format!("{} :", label.to_uppercase()))];
            segs.extend(pieces_to_segs(&title, false));
            c.text.para(&segs, "", "", false, &c.links);
            for (name, value) in [("Date", &when), ("Lieu", &place)] {
                if !value.is_empty() {
                    let mut segs = vec![Seg::Word(format!("{name} :"))];
                    segs.extend(pieces_to_segs(value, false));
                    c.text.need_blank = false;
                    c.text.para(&segs, "", "", false, &c.links);
                }
            }
            c.text.need_blank = false;
            let segs = vec![Seg::Word(format!("{cta} :")), Ctx::text_link(&target)];
            c.text.para(&segs, "", "", false, &c.links);
        }
        Block::Social { links } => {
            let targets: Vec<(String, Target)> =
                links.iter().filter_map(|l| c.target(&l.url).map(|t| (network_label(&l.network), t))).collect();
            if targets.is_empty() {
                return;
            }
            put!(
                c.html,
                "<tr><td class=\"nl-pad nl-text\" align=\"center\" style=\"padding:16px 32px;font-family:{font};\
                 font-size:15px;line-height:1.8;color:{text}\"><p style=\"margin:0 0 4px 0;font-family:{font};\
                 font-size:14px;line-height:1.5;color:{text}\">Suivez-nous</p>"
            );
            for (n, (name, target)) in targets.iter().enumerate() {
                if n > 0 {
                    c.html.lit(" &nbsp;·&nbsp; ");
                }
                c.html.lit("<a href=\"");
                c.href(target);
                put!(
                    c.html,
                    "\" target=\"_blank\" rel=\"noopener\" class=\"nl-link\" style=\"color:{primary};font-weight:bold;\
                     text-decoration:none;white-space:nowrap\">{}</a>",
                    escape(name)
                );
            }
            c.html.lit("</td></tr>\n");
            let counting = std::mem::replace(&mut c.text.counting, false);
            c.text.para(&[Seg::Word("Suivez-nous :".into())], "", "", false, &c.links);
            for (name, target) in &targets {
                c.text.need_blank = false;
                let segs = vec![Seg::Text(format!("{name} :")), Ctx::text_link(target)];
                c.text.para(&segs, "- ", "  ", false, &c.links);
            }
            c.text.counting = counting;
        }
        Block::Separator => {
            put!(
                c.html,
                "<tr><td class=\"nl-pad\" style=\"padding:16px 32px\"><table role=\"presentation\" width=\"100%\" \
                 cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"width:100%;border-collapse:collapse\">\
                 <tr><td height=\"1\" bgcolor=\"{RULE}\" style=\"height:1px;line-height:1px;font-size:1px;\
                 background-color:{RULE}\">&nbsp;</td></tr></table></td></tr>\n"
            );
            c.text.para(&[Seg::Word("-".repeat(40))], "", "", false, &c.links);
        }
    }
}

pub(super) fn html_footer(c: &mut Ctx, sender: &Sender) {
    let font = c.pal.font;
    let p = format!("margin:0 0 10px 0;font-family:{font};font-size:13px;line-height:1.5;color:{MUTED}");
    put!(
        c.html,
        "<tr><td class=\"nl-pad nl-muted\" style=\"padding:24px 32px 28px 32px;border-top:1px solid {RULE};\
         font-family:{font};font-size:13px;line-height:1.5;color:{MUTED}\">\
         <p style=\"{p}\"><strong style=\"font-weight:bold\">{}</strong><br>{}</p><p style=\"{p}\">{}</p>\
         <p style=\"margin:0;font-family:{font};font-size:13px;line-height:1.5;color:{MUTED}\"><a href=\"",
        escape(sender.organisation.trim()),
        lines_to_br(sender.postal_address.trim()),
        lines_to_br(sender.reason.trim()),
    );
    c.html.hole(Part::Unsubscribe);
    put!(
        c.html,
        "\" target=\"_blank\" rel=\"noopener\" style=\"color:{MUTED};text-decoration:underline\">Se désinscrire</a>\
         </p></td></tr>\n</table>\n<!--[if mso]></td></tr></table><![endif]-->\n</td></tr>\n</table>\n"
    );
    c.html.hole(Part::Pixel);
    c.html.lit("\n</body>\n</html>\n");
}

pub(super) fn text_footer(t: &mut TextWriter, sender: &Sender) {
    let none: &[String] = &[];
    t.para(&[Seg::Word("-".repeat(40))], "", "", false, none);
    t.para(&[Seg::Text(sender.organisation.trim().to_string())], "", "", false, none);
    for line in sender.postal_address.lines().map(str::trim).filter(|l| !l.is_empty()) {
        t.need_blank = false;
        t.para(&[Seg::Text(line.to_string())], "", "", false, none);
    }
    t.para(&[Seg::Text(sender.reason.trim().replace(['\r', '\n'], " "))], "", "", false, none);
    t.para(&[Seg::Text("Se désinscrire :".into()), Seg::Unsubscribe], "", "", false, none);
}

fn lines_to_br(s: &str) -> String {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).map(escape).collect::<Vec<_>>().join("<br>")
}

pub(super) fn network_label(network: &str) -> String {
    let n = network.trim();
    match n.to_lowercase().as_str() {
        "facebook" => "Facebook",
        "x" | "twitter" => "X",
        "instagram" => "Instagram",
        "mastodon" => "Mastodon",
        "bluesky" => "Bluesky",
        "youtube" => "YouTube",
        "tiktok" => "TikTok",
        "linkedin" => "LinkedIn",
        "telegram" => "Telegram",
        "whatsapp" => "WhatsApp",
        "threads" => "Threads",
        "site" | "web" | "site web" => "Site web",
        _ => n,
    }
    .to_string()
}
